package rawws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// A frame larger than the engine's output cap (Config.MaxOutput) goes out
// whole and in order with the frames around it, also while the connection
// already holds a backlog (so the engine cannot admit it in one write): the
// writer cuts the batch into pieces and waits for the socket between them.
// This runs in event mode (the write starts on the loop, which must not
// block) and in channel mode.
func TestFrameLargerThanMaxOutput(t *testing.T) {
	const maxOut = 64 << 10
	big := bytes.Repeat([]byte("0123456789abcdef"), (256<<10)/16)
	var frames [][]byte
	for i := 0; i < 300; i++ { // 300 KiB of backlog before the big frame
		frames = append(frames, bytes.Repeat([]byte{byte(i)}, 1024))
	}
	frames = append(frames, big, []byte("after"))
	for _, name := range testBackends(t) {
		for _, event := range []bool{false, true} {
			mode := map[bool]string{false: "channel", true: "event"}[event]
			t.Run(name+"/"+mode, func(t *testing.T) {
				eng, err := poller.New(name, poller.Config{MaxOutput: maxOut})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { eng.Close() })
				opts := Options{OutgoingBytes: 4 << 10, OutgoingFrames: 1024}
				if event {
					opts.Handler = HandlerFuncs{}
				}
				srv := startServer(t, eng, UpgradeOptions{Options: opts})
				c := dialRaw(t, srv.Addr)
				s := srv.next(t)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				sent := make(chan error, 1)
				go func() {
					for _, p := range frames {
						err := s.SendBinary(ctx, p)
						// Event mode never blocks: at the queue's cap it refuses,
						// and the application retries.
						for errors.Is(err, ErrQueueFull) && ctx.Err() == nil {
							time.Sleep(time.Millisecond)
							err = s.SendBinary(ctx, p)
						}
						if err != nil {
							sent <- err
							return
						}
					}
					sent <- s.Flush(ctx)
				}()
				time.Sleep(100 * time.Millisecond) // the client reads nothing yet: a backlog builds
				for i, want := range frames {
					h, p, err := c.readFrame(10 * time.Second)
					if err != nil {
						t.Fatalf("frame %d (%d bytes): %v (session: %v)", i, len(want), err, s.Err())
					}
					if !h.Fin || h.Opcode != frame.OpBinary || !bytes.Equal(p, want) {
						t.Fatalf("frame %d: got %v fin=%v %d bytes, want %d bytes", i, h.Opcode, h.Fin, len(p), len(want))
					}
				}
				if err := <-sent; err != nil {
					t.Fatal(fmt.Errorf("sending: %w", err))
				}
				if s.Err() != nil {
					t.Fatalf("session failed: %v", s.Err())
				}
			})
		}
	}
}

// capConn refuses, like a backend at Config.MaxOutput, any write larger
// than limit, queueing nothing of it.
type capConn struct {
	*fakeConn
	limit   int
	refused int
}

func (c *capConn) Write(b []byte) (int, error) { return c.Writev([][]byte{b}) }
func (c *capConn) Writev(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if n > c.limit {
		c.mu.Lock()
		c.refused++
		c.mu.Unlock()
		return 0, fmt.Errorf("cap %d: %w", c.limit, poller.ErrOutputLimit)
	}
	return c.fakeConn.Writev(bufs)
}

// The piece-writer itself: a connection that refuses every write above
// 64 KiB still receives a 1 MiB frame, byte-exact and between its
// neighbours, once the writer has halved its pieces down to the cap.
func TestWriterHalvesPiecesUnderTheCap(t *testing.T) {
	for _, event := range []bool{false, true} {
		t.Run(map[bool]string{false: "channel", true: "event"}[event], func(t *testing.T) {
			cc := &capConn{fakeConn: &fakeConn{record: true}, limit: 64 << 10}
			opts := Options{}
			if event {
				opts.Handler = HandlerFuncs{}
			}
			s := newSession(opts)
			s.attach(cc)
			big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, p := range [][]byte{[]byte("before"), big, []byte("after")} {
				if err := s.SendBinary(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := parseFrames(t, cc.output())
			if len(got) != 3 || string(got[0].Payload) != "before" || !bytes.Equal(got[1].Payload, big) || string(got[2].Payload) != "after" {
				t.Fatalf("got %d frames", len(got))
			}
			if cc.refused == 0 {
				t.Fatal("the cap was never hit: the test does not exercise the piece writer")
			}
			if s.Err() != nil {
				t.Fatalf("session failed: %v", s.Err())
			}
		})
	}
}

// A peer that stops reading and stays connected does not hold a session
// forever: once the output it owes makes no progress for WriteTimeout, the
// session fails with ErrWriteTimeout and a Send waiting for room learns it.
// A peer that keeps reading, however slowly, is not cut (TestSlowReader*).
func TestWriteTimeoutStalledPeer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		start := time.Now()
		s, err := writeTimedOut(t, eng)
		if !errors.Is(err, ErrWriteTimeout) {
			t.Fatalf("Send to a peer that never reads: %v after %v, want ErrWriteTimeout", err, time.Since(start))
		}
		if !errors.Is(s.Err(), ErrWriteTimeout) {
			t.Fatalf("Err = %v", s.Err())
		}
	})
}

// writeTimedOut sends to a peer that never reads, with WriteTimeout 300 ms,
// until Send fails; it returns the ended session and Send's error.
func writeTimedOut(t *testing.T, eng poller.Engine) (*Session, error) {
	t.Helper()
	srv := startServer(t, eng, UpgradeOptions{Options: Options{WriteTimeout: 300 * time.Millisecond}})
	dialRaw(t, srv.Addr) // never read from
	s := srv.next(t)
	payload := make([]byte, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for err == nil {
		err = s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: payload})
	}
	waitDone(t, s)
	return s, err
}
