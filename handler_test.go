package rawws

import (
	"context"
	"testing"

	"github.com/rawws/rawws/frame"
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
				s.WriteMessage(ctx, op, p)
			}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			fc := &fakeConn{}
			s := NewRawSession(fc, tc.opts(&n))
			run := func() {
				copy(buf, frames)
				if c := s.OnData(fc, buf); c != len(buf) {
					t.Fatalf("consumed %d of %d", c, len(buf))
				}
			}
			run() // warm the queue and pools
			if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
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
				s.WriteMessage(context.Background(), op, p)
			}})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, in)
				s.OnData(fc, buf)
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
