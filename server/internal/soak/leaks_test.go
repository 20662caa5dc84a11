package soak

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeTB records what CheckLeaks reports instead of failing the test.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// CheckLeaks reports a goroutine and a descriptor left behind, and stays
// quiet when they end within the wait.
func TestCheckLeaks(t *testing.T) {
	defer func(d time.Duration) { leakWait = d }(leakWait)
	leakWait = 300 * time.Millisecond
	cases := []struct {
		name    string
		leak    func() (undo func())
		wantErr string
	}{
		{"nothing", func() func() { return func() {} }, ""},
		{"goroutine", func() func() {
			stop := make(chan struct{})
			go func() { <-stop }()
			return func() { close(stop) }
		}, "goroutine leak"},
		{"goroutine that ends in time", func() func() {
			go func() { time.Sleep(100 * time.Millisecond) }()
			return func() {}
		}, ""},
		{"fd", func() func() {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, "fd leak"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Counts are process-wide: let the previous subtest's goroutines
			// finish first, or their end would hide the leak.
			time.Sleep(50 * time.Millisecond)
			f := &fakeTB{TB: t}
			CheckLeaks(f)
			undo := tc.leak()
			f.runCleanups()
			undo()
			got := strings.Join(f.errs, "\n")
			if tc.wantErr == "" && got != "" || tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Fatalf("reported %q, want %q", got, tc.wantErr)
			}
		})
	}
}
