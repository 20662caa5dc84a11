package rawws

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rawws/rawws/frame"
)

var errEndOfInput = errors.New("end of fuzz input")

// FuzzReader feeds arbitrary bytes, split at arbitrary points, to sessions
// in every mode. Whatever comes in, nothing panics, everything offered is
// consumed or left for later, whatever the session writes is well-formed
// frames, and at most one Close is written.
func FuzzReader(f *testing.F) {
	f.Add(encodeFrame(true, frame.OpText, []byte("hello"), true), uint8(3), uint8(0))
	f.Add(cat(encodeFrame(false, frame.OpText, []byte("he"), true), encodeFrame(true, frame.OpPing, []byte("p"), true), encodeFrame(true, frame.OpContinuation, []byte("llo"), true)), uint8(1), uint8(1))
	f.Add(encodeFrame(true, frame.OpClose, []byte{3, 232, 'o', 'k'}, true), uint8(0), uint8(2))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(5), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, split, m uint8) {
		fc := &fakeConn{record: true}
		var opts Options
		switch m % 3 {
		case 0:
			opts.MessageHandler = MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) {
				if op == frame.OpText && !frame.ValidUTF8(p) {
					t.Fatalf("invalid UTF-8 text delivered: %q", p)
				}
			}}
			opts.MaxMessageSize = 1 << 16
		case 1:
			opts.Handler = HandlerFuncs{}
		case 2:
			opts.IncomingFrames = 1 << 10
			opts.MaxFrameSize = 1 << 16
		}
		s := NewRawSession(fc, opts)
		feed(s, fc, bytes.Clone(in), int(split))
		defer s.Close(errEndOfInput) // releases a stalled delivery
		var p frame.Parser
		out := fc.output()
		closes := 0
		for len(out) > 0 {
			n, done, err := p.Parse(out)
			if err != nil || !done {
				t.Fatalf("session wrote a bad frame: %x (%v)", out, err)
			}
			h := p.Header()
			if int64(len(out)-n) < h.Length {
				t.Fatalf("short frame written")
			}
			if h.Opcode == frame.OpClose {
				closes++
			}
			out = out[n+int(h.Length):]
		}
		if closes > 1 {
			t.Fatalf("%d close frames written", closes)
		}
	})
}

// BenchmarkReaderPieces is the path that needs reader state between
// bytes: a 4 KiB message in three fragments in one read, and a 4 KiB frame
// split across two reads (message mode, no answer written).
func BenchmarkReaderPieces(b *testing.B) {
	p := make([]byte, 4096)
	frags := cat(
		encodeFrame(false, frame.OpBinary, p[:1024], true),
		encodeFrame(false, frame.OpContinuation, p[1024:3072], true),
		encodeFrame(true, frame.OpContinuation, p[3072:], true),
	)
	whole := encodeFrame(true, frame.OpBinary, p, true)
	for _, tc := range []struct {
		name  string
		in    []byte
		split int
	}{
		{"fragments", frags, len(frags)},
		{"split-frame", whole, len(whole) / 2},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fc := &fakeConn{}
			n := 0
			s := NewRawSession(fc, Options{MessageHandler: MessageFuncs{Message: func(*Session, frame.Opcode, []byte) { n++ }}})
			buf := make([]byte, len(tc.in))
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, tc.in)
				s.onData(fc, buf[:tc.split])
				if tc.split < len(buf) {
					s.onData(fc, buf[tc.split:])
				}
			}
			if n == 0 || s.Err() != nil {
				b.Fatalf("%d messages, err %v", n, s.Err())
			}
		})
	}
}
