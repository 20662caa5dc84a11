package soak

import (
	"fmt"
	"github.com/rawws/rawws"
	"testing"
	"time"
)

func soakConfig(t *testing.T, addr string) Config {
	cfg := Config{Addr: addr, Conns: 4, Messages: 100, SlowEvery: 2, SlowPause: 30 * time.Millisecond, SlowStart: 500 * time.Millisecond, ReadBuffer: 64 << 10, Seed: *seed, Timeout: 2 * time.Minute}
	if *long {
		cfg.Conns, cfg.Messages, cfg.SlowPause, cfg.SlowStart, cfg.Timeout = 32, 1500, 100*time.Millisecond, 2*time.Second, 25*time.Minute
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
				// A small session byte cap makes the slow readers' echoes back
				// up into the session queue, so the echo's backpressure (hold,
				// pause reading, resend) runs too.
				srv := StartEcho(t, EchoConfig{Backend: backend, Front: front, Backpressure: true, Session: rawws.Options{OutgoingBytes: 256 << 10}})
				cfg := soakConfig(t, srv.Addr)
				if backend == "netpoll" {
					// netpoll cannot stop reading a paused connection: past
					// MaxInput (4 MiB) unread bytes it closes it. Pipelining
					// clients stay below that.
					cfg.Window = 2 << 20
				}
				res, err := Run(cfg)
				t.Logf("soak %s %s seed %d: %v (echoes held back by backpressure: %d)", front, backend, cfg.Seed, res, srv.Refused.Load())
				if err != nil {
					t.Fatalf("%v\nserver sessions ended with: %v", err, drainEnded(srv))
				}
				if want := int64(cfg.Conns * cfg.Messages); res.Messages != want {
					t.Fatalf("%d messages verified, want %d", res.Messages, want)
				}
			})
		})
	}
}

// TestSoakEchoAsRawwsEcho runs the soak's slow readers against the echo
// exactly as cmd/rawws-echo writes it (SendCopy, error ignored): a
// reader that stalls while its peer keeps sending must still get every
// message back.
func TestSoakEchoAsRawwsEcho(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend, Backpressure: false, Session: rawws.Options{OutgoingBytes: 256 << 10}})
		cfg := Config{Addr: srv.Addr, Conns: 1, Messages: 150, MinSize: 64 << 10, MaxSize: 256 << 10, ReadBuffer: 64 << 10,
			SlowEvery: 1, SlowStart: 1500 * time.Millisecond,
			Seed: *seed, Timeout: 8 * time.Second}
		if cfg.Seed == 0 {
			cfg.Seed = uint64(time.Now().UnixNano())
		}
		if backend == "netpoll" {
			cfg.Window = 2 << 20 // netpoll cannot stop reading: see TestSoak
		}
		res, err := Run(cfg)
		t.Logf("seed %d: %v; echoes refused by the session: %d", cfg.Seed, res, srv.Refused.Load())
		if err != nil {
			t.Fatal(err)
		}
	})
}

// drainEnded lists the distinct end causes the server's sessions reported
// so far, for failure messages.
func drainEnded(srv *EchoServer) []string {
	seen := map[string]bool{}
	var out []string
	for {
		select {
		case err := <-srv.Ended:
			k := fmt.Sprint(err)
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		default:
			return out
		}
	}
}
