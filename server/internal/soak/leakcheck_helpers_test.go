package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// LeakWait bounds how long CheckLeaks waits for goroutines and file
// descriptors to return to their starting counts: loops, writers and
// kernel closes finish asynchronously after a test's last action.
const LeakWait = 5 * time.Second

// leakWait is LeakWait, shortened by the helper's own test.
var leakWait = LeakWait

// CheckLeaks records the process's goroutine and open-fd counts and
// registers a Cleanup that waits up to LeakWait for both to come back to
// (or below) those counts, failing t with a goroutine dump and the extra
// fds otherwise. Call it first in a test, before anything that registers
// its own Cleanup (servers, engines): cleanups run last-in first-out, so
// the check then runs after everything else was torn down.
//
// Counts are process-wide: tests that use it must not run in parallel
// with others that start or stop goroutines.
func CheckLeaks(t testing.TB) {
	t.Helper()
	g0 := runtime.NumGoroutine()
	fds0 := openFDs()
	t.Cleanup(func() {
		deadline := time.Now().Add(leakWait)
		var g int
		var fds map[string]string
		for {
			g = runtime.NumGoroutine()
			fds = openFDs()
			if g <= g0 && len(fds) <= len(fds0) {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		var extra []string
		for fd, target := range fds {
			if old, ok := fds0[fd]; !ok || old != target {
				extra = append(extra, fd+" -> "+target)
			}
		}
		sort.Strings(extra)
		if g > g0 {
			t.Errorf("goroutine leak: %d at start, %d after %v\n%s", g0, g, leakWait, goroutineDump())
		}
		if len(fds) > len(fds0) {
			t.Errorf("fd leak: %d at start, %d after %v; new: %s", len(fds0), len(fds), leakWait, strings.Join(extra, ", "))
		}
	})
}

// openFDs maps each open descriptor of the process to what it points at.
// The descriptor ReadDir itself holds is listed too, in both snapshots.
func openFDs() map[string]string {
	const dir = "/proc/self/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return map[string]string{}
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		m[e.Name()] = target
	}
	return m
}

// goroutineDump returns every goroutine's stack, bounded so a failure
// message stays readable.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	const max = 64 << 10
	if n > max {
		return string(buf[:max]) + fmt.Sprintf("\n... (%d more bytes)", n-max)
	}
	return string(buf[:n])
}
