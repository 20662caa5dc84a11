package soak

import (
	"testing"
	"time"
)

func soakConfig(t *testing.T, addr string) Config {
	cfg := Config{Addr: addr, Conns: 6, Messages: 60, SlowEvery: 3, SlowPause: 30 * time.Millisecond, Seed: *seed, Timeout: 2 * time.Minute}
	if *long {
		cfg.Conns, cfg.Messages, cfg.SlowPause, cfg.Timeout = 32, 1500, 100*time.Millisecond, 25*time.Minute
	}
	if *conns > 0 {
		cfg.Conns = *conns
	}
	if *messages > 0 {
		cfg.Messages = *messages
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	return cfg
}

// TestSoak: every message of every connection comes back exactly once, in
// order and unaltered, through each backend and each HTTP front, with
// random sizes (0 B to 1 MiB, mostly small), random fragmentation, pings
// between fragments, frames split over writes, pauses and slow readers.
func TestSoak(t *testing.T) {
	for _, front := range []Front{FrontNetHTTP, FrontNative} {
		t.Run(front.String(), func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				CheckLeaks(t)
				srv := StartEcho(t, EchoConfig{Backend: backend, Front: front, Backpressure: true})
				cfg := soakConfig(t, srv.Addr)
				res, err := Run(cfg)
				t.Logf("soak %s %s seed %d: %v (echoes held back by backpressure: %d)", front, backend, cfg.Seed, res, srv.Refused.Load())
				if err != nil {
					t.Fatal(err)
				}
				if want := int64(cfg.Conns * cfg.Messages); res.Messages != want {
					t.Fatalf("%d messages verified, want %d", res.Messages, want)
				}
			})
		})
	}
}
