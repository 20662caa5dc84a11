package poller_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

func TestWithDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   poller.Config
		want poller.Config
	}{
		{"zero", poller.Config{}, poller.Config{MaxInput: poller.DefaultMaxInput, MaxOutput: poller.DefaultMaxOutput, Tick: poller.DefaultTick}},
		{"negative", poller.Config{MaxInput: -1, MaxOutput: -1, Tick: -1}, poller.Config{MaxInput: poller.DefaultMaxInput, MaxOutput: poller.DefaultMaxOutput, Tick: poller.DefaultTick}},
		{"kept", poller.Config{Loops: 3, MaxInput: 10, MaxOutput: 20, Tick: time.Second}, poller.Config{Loops: 3, MaxInput: 10, MaxOutput: 20, Tick: time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaults(); got != tc.want {
				t.Fatalf("WithDefaults() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// runs makes the registered name unique per run (go test -count=N).
var runs atomic.Int32

func TestRegistry(t *testing.T) {
	name := fmt.Sprintf("test-registry-%d", runs.Add(1))
	var got poller.Config
	poller.Register(name, func(cfg poller.Config) (poller.Engine, error) {
		got = cfg
		return nil, errors.New("built")
	})
	if _, err := poller.New(name, poller.Config{Loops: 1}); err == nil || err.Error() != "built" {
		t.Fatalf("New did not call the factory: %v", err)
	}
	if got.Tick != poller.DefaultTick || got.Loops != 1 {
		t.Fatalf("factory got %+v, want defaults applied", got)
	}
	found := false
	for _, n := range poller.Backends() {
		found = found || n == name
	}
	if !found {
		t.Fatalf("Backends() = %v lacks the registered name", poller.Backends())
	}
	if _, err := poller.New("no-such-backend", poller.Config{}); !errors.Is(err, poller.ErrUnknownBackend) {
		t.Fatalf("New(unknown) = %v, want ErrUnknownBackend", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	poller.Register(name, func(poller.Config) (poller.Engine, error) { return nil, nil })
}
