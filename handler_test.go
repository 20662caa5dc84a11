package rawws

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// The event-mode hot path allocates nothing per frame: parse, unmask in
// place, hand a view to the handler, and echo it.
func TestEventModeZeroAllocs(t *testing.T) {
	frames := cat(
		encodeFrame(true, frame.OpBinary, make([]byte, 64), true),
		encodeFrame(true, frame.OpText, []byte("hello, world"), true),
		encodeFrame(true, frame.OpBinary, make([]byte, 4096), true),
		encodeFrame(true, frame.OpPing, []byte("ping"), true),
	)
	buf := make([]byte, len(frames))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts func(*int) Options
	}{
		{"frames", func(n *int) Options {
			return Options{Handler: HandlerFuncs{Frame: func(s *Session, f frame.Frame) {
				*n++
				if f.Opcode.IsData() {
					s.SendCopy(ctx, f)
				}
			}}}
		}},
		{"messages", func(n *int) Options {
			return Options{MessageHandler: MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) {
				*n++
				s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: op, Payload: p})
			}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			fc := &fakeConn{}
			s := NewRawSession(fc, tc.opts(&n))
			run := func() {
				copy(buf, frames)
				if c := s.onData(fc, buf); c != len(buf) {
					t.Fatalf("consumed %d of %d", c, len(buf))
				}
			}
			run() // warm the queue and pools
			if allocs := testing.AllocsPerRun(200, run); allocs != 0 && !raceEnabled {
				t.Fatalf("%v allocations per batch of 4 frames", allocs)
			}
			if n == 0 || s.Err() != nil {
				t.Fatalf("delivered %d, err %v", n, s.Err())
			}
		})
	}
}

func BenchmarkEventModeEcho(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(frame.OpBinary.String()+"/"+itoa(size), func(b *testing.B) {
			in := encodeFrame(true, frame.OpBinary, make([]byte, size), true)
			buf := make([]byte, len(in))
			fc := &fakeConn{}
			s := NewSession(fc, Options{}, MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) {
				s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
			}})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, in)
				s.onData(fc, buf)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// An idle event-mode connection costs no goroutine (on the event-loop
// backends; std has one reader goroutine per connection by design).
func TestIdleSessionsHaveNoGoroutine(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		if eng.Name() == "std" {
			return // std runs a reader goroutine per connection by design
		}
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}})
		ctx := ctx5(t)
		// Warm up the engine's loops and the HTTP server first.
		warm, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{MessageHandler: MessageFuncs{}}})
		if err != nil {
			t.Fatal(err)
		}
		srv.next(t)
		defer warm.Close(errors.New("done"))
		time.Sleep(50 * time.Millisecond)
		before := runtime.NumGoroutine()
		const n = 50
		for i := 0; i < n; i++ {
			s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{MessageHandler: MessageFuncs{}}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(errors.New("done"))
			s.SendText(ctx, "hi") // some traffic, then idle
			srv.next(t)
		}
		var after int
		for i := 0; i < 50; i++ { // net/http's per-request goroutines wind down
			time.Sleep(20 * time.Millisecond)
			if after = runtime.NumGoroutine(); after-before < n/5 {
				break
			}
		}
		if after-before >= n/5 {
			t.Fatalf("%d goroutines before, %d after %d idle connection pairs", before, after, n)
		}
	})
}
