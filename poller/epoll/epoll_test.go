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

// BenchmarkSuiteEcho is the shared suite's echo benchmark. Its echo
// handler ignores ErrOutputLimit, so with a client that writes faster than it
// reads, a backend that keeps reading (as this one does until told to pause)
// can hit MaxOutput and lose bytes; run BenchmarkEcho below for numbers.
func BenchmarkSuiteEcho(b *testing.B) { pollertest.BenchmarkEcho(b, newEngine) }
