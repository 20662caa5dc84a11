//go:build linux

package epoll

import (
	"testing"

	"github.com/rawws/rawws/poller"
	"github.com/rawws/rawws/poller/pollertest"
)

func newEngine(t testing.TB, cfg poller.Config) poller.Engine {
	eng, err := poller.New(Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestSuite runs the shared backend suite. The epoll backend keeps no
// goroutine per connection, so the many-connections test runs the full
// 19,000 even under the race detector (500 with -short).
func TestSuite(t *testing.T) {
	opts := pollertest.Options{PauseStopsReading: true}
	if !testing.Short() {
		opts.ManyConns = 19000
	}
	pollertest.Run(t, newEngine, opts)
}

func BenchmarkEcho(b *testing.B) { pollertest.BenchmarkEcho(b, newEngine) }

// BenchmarkEchoUnlocked is BenchmarkEcho with loops not locked to their OS
// threads (Options.LockOSThread false), to compare with the default.
func BenchmarkEchoUnlocked(b *testing.B) {
	pollertest.BenchmarkEcho(b, func(t testing.TB, cfg poller.Config) poller.Engine {
		e, err := New(cfg, Options{LockOSThread: false})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
