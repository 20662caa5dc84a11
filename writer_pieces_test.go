package rawws

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// A frame larger than the engine's output cap (Config.MaxOutput) goes out
// whole, in pieces, in order with the frames around it, in event mode (the
// write starts on the loop and must not block it) and channel mode. Before,
// the refused Writev closed the connection without a Close frame.
func TestFrameLargerThanMaxOutput(t *testing.T) {
	const maxOut = 64 << 10
	big := bytes.Repeat([]byte("0123456789abcdef"), (256<<10)/16)
	for _, name := range testBackends(t) {
		for _, event := range []bool{false, true} {
			mode := map[bool]string{false: "channel", true: "event"}[event]
			t.Run(name+"/"+mode, func(t *testing.T) {
				eng, err := poller.New(name, poller.Config{MaxOutput: maxOut})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { eng.Close() })
				opts := Options{}
				if event {
					opts.Handler = HandlerFuncs{}
				}
				srv := startServer(t, eng, UpgradeOptions{Options: opts})
				c := dialRaw(t, srv.Addr)
				s := srv.next(t)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				for _, p := range [][]byte{[]byte("before"), big, []byte("after")} {
					if err := s.SendBinary(ctx, p); err != nil {
						t.Fatal(err)
					}
				}
				for _, want := range [][]byte{[]byte("before"), big, []byte("after")} {
					h, p, err := c.readFrame(10 * time.Second)
					if err != nil {
						t.Fatalf("reading the %d-byte frame: %v (session: %v)", len(want), err, s.Err())
					}
					if !h.Fin || h.Opcode != frame.OpBinary || !bytes.Equal(p, want) {
						t.Fatalf("got %v fin=%v %d bytes, want the %d-byte frame", h.Opcode, h.Fin, len(p), len(want))
					}
				}
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if s.Err() != nil {
					t.Fatalf("session failed: %v", s.Err())
				}
			})
		}
	}
}
