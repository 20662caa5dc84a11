package std_test

import (
	"testing"

	"github.com/rawws/rawws/poller"
	"github.com/rawws/rawws/poller/pollertest"
	_ "github.com/rawws/rawws/poller/std"
)

func newEngine(t testing.TB, cfg poller.Config) poller.Engine {
	eng, err := poller.New("std", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestSuite(t *testing.T) {
	pollertest.Run(t, newEngine, pollertest.Options{PauseStopsReading: true, AdoptsPipe: true})
}

func BenchmarkEcho(b *testing.B) { pollertest.BenchmarkEcho(b, newEngine) }
