package rawws

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// Seed: flush covers every frame sent earlier by any path, Outgoing
// included. Frames sent on Outgoing and then flushed are in the socket when
// Flush returns: a Close right after loses none of them.
func TestOutgoingFlush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		for try := 0; try < 10; try++ {
			c := dialRaw(t, srv.Addr)
			s := srv.next(t)
			out := s.Outgoing()
			for i := 0; i < 3; i++ {
				out <- frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte(fmt.Sprint(try, i))}
			}
			if err := s.Flush(ctx5(t)); err != nil {
				t.Fatalf("try %d: Flush: %v", try, err)
			}
			// Close drops what the session still holds and closes at once:
			// only what Flush said was written can arrive.
			s.Close(errors.New("flushed"))
			for i := 0; i < 3; i++ {
				_, p, err := c.readFrame(5 * time.Second)
				if want := fmt.Sprint(try, i); string(p) != want {
					t.Fatalf("try %d: frame %d: %q %v, want %q", try, i, p, err, want)
				}
			}
			waitDone(t, s)
			if n := s.Dropped(); n != 0 {
				t.Fatalf("try %d: %d frames dropped", try, n)
			}
		}
	})
}

// The Outgoing pump ends with its session, whether or not the caller ever
// closes the channel.
func TestOutgoingPumpEndsWithSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		// One session first, so the server's and the engine's own
		// goroutines are counted in the base.
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		s.Close(errors.New("warm-up"))
		waitDone(t, s)
		c.nc.Close()
		time.Sleep(50 * time.Millisecond)
		base := runtime.NumGoroutine()
		const n = 30
		for i := 0; i < n; i++ {
			c := dialRaw(t, srv.Addr)
			s := srv.next(t)
			out := s.Outgoing()
			out <- frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte("x")}
			if i%2 == 0 {
				s.Close(errors.New("gone"))
			} else {
				s.Terminate()
				for {
					if _, _, err := c.readFrame(5 * time.Second); err != nil {
						break
					}
				}
			}
			c.nc.Close()
			waitDone(t, s)
		}
		deadline := time.Now().Add(5 * time.Second)
		got := runtime.NumGoroutine()
		for got > base+5 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			got = runtime.NumGoroutine()
		}
		if got > base+5 {
			t.Fatalf("%d goroutines after %d sessions closed, %d before", got, n, base)
		}
	})
}

// A frame the session refuses cannot fail to a channel's sender: it is
// counted in Dropped, and the frames around it still go out.
func TestOutgoingRefusalCounted(t *testing.T) {
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, Options{})
	out := s.Outgoing()
	out <- frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte("a")}
	out <- frame.Frame{Fin: true, Opcode: frame.OpPing, Payload: make([]byte, 200)}
	out <- frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte("b")}
	if err := s.Flush(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	if fs := parseFrames(t, fc.output()); len(fs) != 2 || string(fs[0].Payload) != "a" || string(fs[1].Payload) != "b" {
		t.Fatalf("wrote %+v", fs)
	}
	if n := s.Dropped(); n != 1 {
		t.Fatalf("Dropped = %d, want 1", n)
	}
	s.Close(errors.New("over"))
}
