package rawws

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/rawws/rawws/frame"
)

// An idle event-mode session is what a server holds per connection while
// nothing happens, so its cost is part of the contract: one allocation of
// at most maxIdleSession bytes, nothing else (no options copy, no Done
// channel, no channel-mode state) until something needs it.
const maxIdleSession = 80 // a Go size class; grow it only knowingly

func TestSessionIdleFootprint(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > maxIdleSession {
		t.Errorf("Session is %d bytes, over the %d budget per idle connection", n, maxIdleSession)
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		allocs float64
	}{
		{"messages", Options{MessageHandler: MessageFuncs{}}, 1},
		{"frames", Options{Handler: HandlerFuncs{}}, 1},
		// Channel mode adds its state: the cold state that holds it, the
		// struct, Incoming (header and buffer) and the kill switch.
		{"channel", Options{}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared := tc.opts
			var s *Session
			got := testing.AllocsPerRun(100, func() { s = newSessionShared(&shared) })
			if got != tc.allocs {
				t.Errorf("newSessionShared: %v allocations, want %v", got, tc.allocs)
			}
			if s.opts != &shared {
				t.Error("the session copied its endpoint's options")
			}
		})
	}
}

// TestSessionDoneLazy: Done made after the end, before it, or never, is
// closed once the connection is gone, and is the same channel each time.
func TestSessionDoneLazy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before, aft bool
	}{
		{"never asked", false, false},
		{"asked before", true, false},
		{"asked after", false, true},
		{"asked both", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(Options{Handler: HandlerFuncs{}})
			var early <-chan struct{}
			if tc.before {
				early = s.Done()
				select {
				case <-early:
					t.Fatal("Done closed before the end")
				default:
				}
				if s.Done() != early {
					t.Fatal("Done returned another channel")
				}
			}
			s.onClose(nil, nil)
			if tc.before {
				select {
				case <-early:
				default:
					t.Fatal("early Done not closed by OnClose")
				}
			}
			if tc.aft {
				select {
				case <-s.Done():
				default:
					t.Fatal("Done after the end is not closed")
				}
			}
		})
	}
}

// TestSessionReturnsToIdle: the reader's and the writer's state exist only
// while something is in flight. A session that got a frame in pieces, a
// header in pieces, a fragmented message, or frames behind a busy writer
// holds none of it once they are done, and what it delivered and wrote is
// still right.
func TestSessionReturnsToIdle(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"messages", "frames"} {
		t.Run(mode, func(t *testing.T) {
			var got [][]byte
			opts := Options{MessageHandler: MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) {
				got = append(got, append([]byte(nil), p...))
				s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: op, Payload: p})
			}}}
			if mode == "frames" {
				opts = Options{Handler: HandlerFuncs{Frame: func(s *Session, f frame.Frame) {
					got = append(got, append([]byte(nil), f.Payload...))
					s.SendCopy(ctx, f)
				}}}
			}
			fc := &fakeConn{record: true}
			s := NewRawSession(fc, opts)
			idle := func(when string) {
				t.Helper()
				s.mu.Lock()
				w := s.w
				s.mu.Unlock()
				if s.rd != nil || w != nil || s.cold.Load() != nil {
					t.Fatalf("%s: rd %p, w %p, cold %p; want an idle session", when, s.rd, w, s.cold.Load())
				}
			}
			feed := func(b []byte, wantBusy bool, when string) {
				t.Helper()
				buf := append([]byte(nil), b...)
				if n := s.onData(fc, buf); n != len(buf) {
					t.Fatalf("%s: consumed %d of %d", when, n, len(buf))
				}
				if busy := s.rd != nil; busy != wantBusy {
					t.Fatalf("%s: reader state held %v, want %v", when, busy, wantBusy)
				}
			}
			big := pattern(3000, 7)
			whole := encodeFrame(true, frame.OpBinary, big, true)

			feed(whole, false, "whole frame")
			idle("after a whole frame")
			feed(whole[:1000], true, "first part of a frame")
			feed(whole[1000:], false, "rest of the frame")
			idle("after a frame in pieces")
			feed(whole[:3], true, "part of a header")
			feed(whole[3:], false, "rest")
			idle("after a header in pieces")
			if mode == "messages" {
				feed(encodeFrame(false, frame.OpBinary, big[:1000], true), true, "first fragment")
				feed(encodeFrame(false, frame.OpContinuation, big[1000:2000], true), true, "middle fragment")
				feed(encodeFrame(true, frame.OpContinuation, big[2000:], true), false, "last fragment")
				idle("after a fragmented message")
			}
			s.mu.Lock()
			s.writing = true // another goroutine is mid-write: frames queue
			s.mu.Unlock()
			feed(whole, false, "frame behind a busy writer")
			s.mu.Lock()
			queued := s.queuedLocked()
			s.mu.Unlock()
			if queued != 1 {
				t.Fatalf("%d frames queued behind the busy writer, want 1", queued)
			}
			s.writeLoop(false)
			idle("after the writer drained")
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}

			wantN := 4
			if mode == "messages" {
				wantN = 5
			}
			if len(got) != wantN {
				t.Fatalf("%d deliveries, want %d", len(got), wantN)
			}
			out := parseFrames(t, fc.output())
			if len(out) != wantN {
				t.Fatalf("%d frames echoed, want %d", len(out), wantN)
			}
			for i := range got {
				if !bytes.Equal(got[i], big) || !bytes.Equal(out[i].Payload, big) {
					t.Fatalf("delivery %d: %d bytes in, %d echoed, want the 3000-byte pattern", i, len(got[i]), len(out[i].Payload))
				}
			}
		})
	}
}

// seenConn records every buffer written, so a test can tell which frames
// reached the connection; every few writes it lingers, so senders pile up
// behind the writer.
type seenConn struct {
	fakeConn
	smu  sync.Mutex
	seen map[string]bool
	n    int
}

func (c *seenConn) Write(b []byte) (int, error) { return c.Writev([][]byte{b}) }
func (c *seenConn) Writev(bufs [][]byte) (int, error) {
	c.smu.Lock()
	for _, b := range bufs {
		c.seen[string(b)] = true
	}
	c.n++
	slow := c.n%3 == 0
	c.smu.Unlock()
	n, err := c.fakeConn.Writev(bufs)
	if slow {
		// The writer lingers after a write, as after a system call, so
		// frames queue behind it and Flush has to wait for them.
		time.Sleep(20 * time.Microsecond)
	}
	return n, err
}

func (c *seenConn) wrote(p string) bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.seen[p]
}

// Flush keeps its contract while the queue state comes and goes: with
// senders racing each other, every Flush returns only after the frames its
// caller sent before it were handed to the connection.
func TestFlushAcrossQueueReuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &seenConn{seen: map[string]bool{}}
	s := NewRawSession(c, Options{OutgoingFrames: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				p := fmt.Sprintf("g%d:%d", g, i)
				if err := s.SendText(ctx, p); err != nil {
					errs <- err
					return
				}
				if i%7 != 6 {
					continue
				}
				if err := s.Flush(ctx); err != nil {
					errs <- err
					return
				}
				if !c.wrote(p) {
					errs <- fmt.Errorf("Flush returned before %q was written", p)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	if w != nil {
		t.Fatal("the queue state outlived the last write")
	}
}
