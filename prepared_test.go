package rawws

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
)

// wireFrame is one frame decoded from a session's output.
type wireFrame struct {
	h frame.Header
	p []byte
}

// decodeAll splits b into frames, unmasking masked payloads.
func decodeAll(t testing.TB, b []byte) []wireFrame {
	t.Helper()
	var out []wireFrame
	var ps frame.Parser
	ps.AllowedRsv = 0x70
	for len(b) > 0 {
		n, done, err := ps.Parse(b)
		if err != nil {
			t.Fatalf("parse output: %v", err)
		}
		if !done {
			t.Fatalf("output ends inside a header: % x", b)
		}
		b = b[n:]
		h := ps.Header()
		if int64(len(b)) < h.Length {
			t.Fatalf("output ends inside a payload: want %d, have %d", h.Length, len(b))
		}
		p := append([]byte(nil), b[:h.Length]...)
		b = b[h.Length:]
		if h.Masked {
			Mask(h.Key, 0, p)
		}
		out = append(out, wireFrame{h, p})
	}
	return out
}

// pattern returns n bytes that differ from position to position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// A prepared frame is written byte for byte as Send would write it, to
// server sessions (the shared bytes) and to masking sessions (masked per
// session, payload unchanged).
func TestPreparedFrameWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    frame.Frame
	}{
		{"empty text", frame.Frame{Fin: true, Opcode: frame.OpText}},
		{"125", frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: pattern(125, 1)}},
		{"126", frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: pattern(126, 2)}},
		{"65535", frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: pattern(65535, 3)}},
		{"65536", frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: pattern(65536, 4)}},
		{"2MiB unpooled", frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: pattern(2<<20, 5)}},
		{"fragment rsv1", frame.Frame{Fin: false, Rsv1: true, Opcode: frame.OpText, Payload: []byte("part")}},
		{"ping", frame.Frame{Fin: true, Opcode: frame.OpPing, Payload: []byte("hi")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := append([]byte(nil), tc.f.Payload...)
			pf := NewPreparedFrame(tc.f)
			if len(tc.f.Payload) > 0 {
				tc.f.Payload[0]++ // the caller keeps its slice: pf must not see this
				defer func() { tc.f.Payload[0]-- }()
			}
			want := frame.AppendHeader(nil, frame.Header{Fin: tc.f.Fin, Rsv: tc.f.Rsv(), Opcode: tc.f.Opcode, Length: int64(len(orig))})
			want = append(want, orig...)
			if pf.Len() != len(want) {
				t.Fatalf("Len %d, want %d", pf.Len(), len(want))
			}
			for _, masked := range []bool{false, true} {
				fc := &fakeConn{record: true}
				s := NewRawSession(fc, Options{Handler: HandlerFuncs{}, Client: masked})
				if err := s.SendPrepared(context.Background(), pf); err != nil {
					t.Fatal(err)
				}
				out := fc.output()
				if !masked {
					if !bytes.Equal(out, want) {
						t.Fatalf("server output differs from the encoded frame (%d vs %d bytes)", len(out), len(want))
					}
					continue
				}
				fs := decodeAll(t, out)
				if len(fs) != 1 || !fs[0].h.Masked || fs[0].h.Opcode != tc.f.Opcode || fs[0].h.Fin != tc.f.Fin ||
					fs[0].h.Rsv != tc.f.Rsv() || !bytes.Equal(fs[0].p, orig) {
					t.Fatalf("masked output: %d frames, first %+v", len(fs), fs[0].h)
				}
			}
			if got := pf.Frame(); !bytes.Equal(got.Payload, orig) || got.Opcode != tc.f.Opcode {
				t.Fatalf("Frame() = %v %d bytes", got.Opcode, len(got.Payload))
			}
			if n := pf.refs.Load(); n != 1 {
				t.Fatalf("%d references after every write, want the creator's only", n)
			}
			pf.Release()
		})
	}
}

// References: each queue entry holds one until written or discarded, and
// the buffer goes back only after the creator's Release and the last write.
func TestPreparedRefcount(t *testing.T) {
	ctx := context.Background()
	pf := PrepareMessage(frame.OpBinary, pattern(1000, 9))
	// Unattached sessions keep what is sent in their queue.
	a := newSession(Options{Handler: HandlerFuncs{}})
	b := newSession(Options{Handler: HandlerFuncs{}})
	for _, s := range []*Session{a, a, b} {
		if err := s.SendPrepared(ctx, pf); err != nil {
			t.Fatal(err)
		}
	}
	if n := pf.refs.Load(); n != 4 {
		t.Fatalf("refs %d, want 4 (creator + 3 queued)", n)
	}
	pf.Release()
	if pf.buf == nil || pf.refs.Load() != 3 {
		t.Fatal("buffer given back while sessions still hold the frame")
	}
	a.Close(errors.New("gone")) // discards its queue
	fc := &fakeConn{record: true}
	b.setConn(fc) // writes its queue
	if got := decodeAll(t, fc.output()); len(got) != 1 || !bytes.Equal(got[0].p, pattern(1000, 9)) {
		t.Fatalf("b wrote %d frames", len(got))
	}
	if pf.refs.Load() != 0 || pf.buf != nil || pf.wire != nil {
		t.Fatalf("refs %d after every queue let go; buffer kept", pf.refs.Load())
	}
	if err := b.SendPrepared(ctx, pf); !errors.Is(err, ErrPreparedReleased) {
		t.Fatalf("send of a freed frame: %v, want ErrPreparedReleased", err)
	}
	if err := pf.Release(); !errors.Is(err, ErrPreparedReleased) {
		t.Fatalf("second Release: %v, want ErrPreparedReleased", err)
	}
}

// A full queue: event mode refuses and counts (or closes with 1008 under
// QueueFullClose) without blocking; channel mode waits for room or ctx.
func TestSendPreparedQueueFull(t *testing.T) {
	pf := PrepareMessage(frame.OpText, []byte("tick"))
	defer pf.Release()
	for _, tc := range []struct {
		name      string
		opts      Options
		wantErr   error
		wantClose bool
	}{
		{"event drop", Options{Handler: HandlerFuncs{}, OutgoingFrames: 2}, ErrQueueFull, false},
		{"message close", Options{MessageHandler: MessageFuncs{}, OutgoingFrames: 2, QueueFull: QueueFullClose}, ErrQueueFull, true},
		{"channel waits", Options{OutgoingFrames: 2}, context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(tc.opts)
			ctx := context.Background()
			for i := 0; i < 2; i++ {
				if err := s.SendPrepared(ctx, pf); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := s.SendPrepared(ctx, pf)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("third send: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == ErrQueueFull && time.Since(start) > 40*time.Millisecond {
				t.Fatal("event-mode SendPrepared waited")
			}
			if tc.wantErr == ErrQueueFull && s.Dropped() != 1 {
				t.Fatalf("drops %d, want 1", s.Dropped())
			}
			if closed := errors.Is(s.Err(), ErrQueueFull); closed != tc.wantClose {
				t.Fatalf("session err %v, want closed=%v", s.Err(), tc.wantClose)
			}
			if tc.wantClose {
				s.mu.Lock()
				last := s.w.q[len(s.w.q)-1].f
				s.mu.Unlock()
				if last.Opcode != frame.OpClose || frame.CloseCode(uint16(last.Payload[0])<<8|uint16(last.Payload[1])) != frame.ClosePolicyViolation {
					t.Fatalf("last queued %v %x, want Close 1008", last.Opcode, last.Payload)
				}
			}
			s.Close(errors.New("done"))
			if err := s.SendPrepared(context.Background(), pf); !errors.Is(err, ErrClosed) {
				t.Fatalf("send after close: %v", err)
			}
		})
	}
	if n := pf.refs.Load(); n != 1 {
		t.Fatalf("refs %d after every session closed, want 1", n)
	}
}

// SendPrepared to an event-mode session allocates nothing, and neither does
// publishing to a topic, however many subscribers it has.
func TestPreparedZeroAllocs(t *testing.T) {
	ctx := context.Background()
	fc := &fakeConn{}
	s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
	pf := PrepareMessage(frame.OpBinary, pattern(4096, 1))
	defer pf.Release()
	if a := testing.AllocsPerRun(1000, func() {
		if err := s.SendPrepared(ctx, pf); err != nil {
			t.Fatal(err)
		}
	}); a != 0 && !raceEnabled {
		t.Fatalf("SendPrepared: %v allocations per call", a)
	}

	hub := NewHub(HubOptions{})
	for i := 0; i < 64; i++ {
		fc := &fakeConn{}
		if err := hub.Subscribe("t", NewRawSession(fc, Options{MessageHandler: MessageFuncs{}})); err != nil {
			t.Fatal(err)
		}
	}
	payload := pattern(64, 2)
	publish := func() {
		if err := hub.Publish("t", frame.OpText, payload); err != nil {
			t.Fatal(err)
		}
	}
	publish()
	if a := testing.AllocsPerRun(500, publish); a != 0 && !raceEnabled {
		t.Fatalf("Hub.Publish to 64 subscribers: %v allocations per publish", a)
	}
	if a := testing.AllocsPerRun(500, func() {
		BroadcastFrame(ctx, []*Session{s, s, s}, frame.Frame{Fin: true, Opcode: frame.OpText, Payload: payload})
	}); a != 0 && !raceEnabled {
		t.Fatalf("BroadcastFrame: %v allocations per call", a)
	}
	if st := hub.Stats(); st.Delivered != 64*502 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// FuzzPreparedFrame: whatever the frame, a session writes a prepared frame
// as the encoding of that frame (server) or as a masked frame carrying the
// same payload (client), and the buffer's references all come back.
func FuzzPreparedFrame(f *testing.F) {
	f.Add(byte(0x81), []byte("hello"), uint8(1))
	f.Add(byte(0x02), make([]byte, 126), uint8(3))
	f.Add(byte(0xc9), []byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, b0 byte, payload []byte, sessions uint8) {
		fr := frame.Frame{Fin: b0&0x80 != 0, Rsv1: b0&0x40 != 0, Rsv2: b0&0x20 != 0, Rsv3: b0&0x10 != 0,
			Opcode: frame.Opcode(b0 & 0x0f), Payload: payload}
		// Keep to frames a peer can parse, so the masked output can be
		// checked by decoding it.
		if fr.Opcode.IsReserved() {
			fr.Opcode = frame.OpBinary
		}
		if fr.Opcode.IsControl() {
			fr.Fin = true
			if len(payload) > frame.MaxControlPayload {
				payload = payload[:frame.MaxControlPayload]
				fr.Payload = payload
			}
		}
		want := frame.AppendHeader(nil, frame.HeaderOf(&fr))
		want = append(want, payload...)
		pf := NewPreparedFrame(fr)
		ctx := context.Background()
		n := int(sessions%4) + 1
		for i := 0; i < n; i++ {
			masked := i%2 == 1
			fc := &fakeConn{record: true}
			s := NewRawSession(fc, Options{Handler: HandlerFuncs{}, Client: masked, AllowedRsv: 0x70})
			if err := s.SendPrepared(ctx, pf); err != nil {
				t.Fatal(err)
			}
			out := fc.output()
			if !masked {
				if !bytes.Equal(out, want) {
					t.Fatalf("server bytes % x, want % x", out, want)
				}
				continue
			}
			fs := decodeAll(t, out)
			if len(fs) != 1 || !fs[0].h.Masked || fs[0].h.Fin != fr.Fin || fs[0].h.Rsv != fr.Rsv() ||
				fs[0].h.Opcode != fr.Opcode || !bytes.Equal(fs[0].p, payload) {
				t.Fatalf("masked frame %+v", fs)
			}
		}
		if r := pf.refs.Load(); r != 1 {
			t.Fatalf("%d references after %d writes", r, n)
		}
		pf.Release()
	})
}
