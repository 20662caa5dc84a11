package rawws

import (
	"errors"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

func TestPinger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		t.Run("matching pongs keep it alive", func(t *testing.T) {
			c := dialRaw(t, srv.Addr)
			s := srv.next(t)
			stop, err := Pinger(s, 30*time.Millisecond, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			seen := map[string]bool{}
			for i := 0; i < 3; i++ {
				h, p, err := c.readFrame(5 * time.Second)
				if err != nil || h.Opcode != frame.OpPing || len(p) == 0 {
					t.Fatalf("ping %d: %v %q %v", i, h.Opcode, p, err)
				}
				if seen[string(p)] {
					t.Fatal("ping payload repeated")
				}
				seen[string(p)] = true
				c.send(true, frame.OpPong, p)
			}
			stop()
			if s.Err() != nil {
				t.Fatalf("session failed: %v", s.Err())
			}
			// Pongs are still delivered raw.
			if f := recvFrame(t, s); f.Opcode != frame.OpPong {
				t.Fatalf("got %v", f.Opcode)
			}
		})
		t.Run("wrong pong times out", func(t *testing.T) {
			c := dialRaw(t, srv.Addr)
			s := srv.next(t)
			Pinger(s, 30*time.Millisecond, 100*time.Millisecond)
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil || h.Opcode != frame.OpPing {
				t.Fatal(h.Opcode, err)
			}
			c.send(true, frame.OpPong, append([]byte("not "), p...))
			c.expectClose(frame.CloseInternalError)
			c.nc.Close()
			waitDone(t, s)
			if !errors.Is(s.Err(), ErrPingTimeout) {
				t.Fatalf("Err = %v", s.Err())
			}
		})
	})
}
