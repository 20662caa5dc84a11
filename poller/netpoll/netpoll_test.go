//go:build linux

package netpoll_test

import (
	"testing"

	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/netpoll"
	"github.com/rawws/rawws/poller/pollertest"
)

func newEngine(t testing.TB, cfg poller.Config) poller.Engine {
	eng, err := poller.New("netpoll", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestSuite(t *testing.T) {
	pollertest.Run(t, newEngine, pollertest.Options{})
}

func BenchmarkEcho(b *testing.B) { pollertest.BenchmarkEcho(b, newEngine) }
