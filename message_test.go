package rawws

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// msgRecorder collects what a message-mode session delivers.
type msgRecorder struct {
	msgs   []string
	closed bool
	err    error
}

func (r *msgRecorder) handler() MessageFuncs {
	return MessageFuncs{
		Message: func(s *Session, op frame.Opcode, p []byte) { r.msgs = append(r.msgs, op.String()+":"+string(p)) },
		Close:   func(s *Session, err error) { r.closed, r.err = true, err },
	}
}

// rsvFrame is encodeFrame with RSV bits.
func rsvFrame(rsv byte, op frame.Opcode, payload []byte) []byte {
	b := encodeFrame(true, op, payload, true)
	b[0] |= rsv
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func closePayload(code frame.CloseCode, text string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, text...)
}

func TestMessageLayerProtocol(t *testing.T) {
	txt := func(fin bool, s string) []byte { return encodeFrame(fin, frame.OpText, []byte(s), true) }
	cont := func(fin bool, s string) []byte { return encodeFrame(fin, frame.OpContinuation, []byte(s), true) }
	tests := []struct {
		name   string
		client bool
		max    int64
		in     []byte
		msgs   []string
		close  frame.CloseCode // 0: no close expected
		echo   []byte          // expected close payload when close != 0 and echo set
		pongs  []string
		errIs  error
	}{
		{name: "text and binary", in: cat(txt(true, "hi"), encodeFrame(true, frame.OpBinary, []byte{1}, true)), msgs: []string{"text:hi", "binary:\x01"}},
		{name: "fragmented with ping inside", in: cat(txt(false, "a"), encodeFrame(true, frame.OpPing, []byte("p1"), true), cont(false, ""), cont(true, "b")), msgs: []string{"text:ab"}, pongs: []string{"p1"}},
		{name: "utf8 split across fragments", in: cat(txt(false, "caf\xc3"), cont(true, "\xa9")), msgs: []string{"text:café"}},
		{name: "reserved opcode 3", in: encodeFrame(true, 3, nil, true), close: frame.CloseProtocolError},
		{name: "reserved control opcode", in: encodeFrame(true, 0xB, nil, true), close: frame.CloseProtocolError},
		{name: "rsv1 without extension", in: rsvFrame(0x40, frame.OpText, []byte("x")), close: frame.CloseProtocolError},
		{name: "rsv3", in: rsvFrame(0x10, frame.OpBinary, nil), close: frame.CloseProtocolError},
		{name: "fragmented ping", in: encodeFrame(false, frame.OpPing, nil, true), close: frame.CloseProtocolError},
		{name: "ping over 125", in: encodeFrame(true, frame.OpPing, make([]byte, 126), true), close: frame.CloseProtocolError},
		{name: "continuation without message", in: cont(true, "x"), close: frame.CloseProtocolError},
		{name: "new message inside unfinished", in: cat(txt(false, "a"), txt(true, "b")), close: frame.CloseProtocolError},
		{name: "unmasked client frame", in: encodeFrame(true, frame.OpText, []byte("x"), false), close: frame.CloseProtocolError},
		{name: "masked server frame", client: true, in: encodeFrame(true, frame.OpText, []byte("x"), true), close: frame.CloseProtocolError},
		{name: "close 1 byte", in: encodeFrame(true, frame.OpClose, []byte{3}, true), close: frame.CloseProtocolError},
		{name: "close code 999", in: encodeFrame(true, frame.OpClose, closePayload(999, ""), true), close: frame.CloseProtocolError},
		{name: "close code 1005", in: encodeFrame(true, frame.OpClose, closePayload(1005, ""), true), close: frame.CloseProtocolError},
		{name: "close code 1006", in: encodeFrame(true, frame.OpClose, closePayload(1006, ""), true), close: frame.CloseProtocolError},
		{name: "close code 2000", in: encodeFrame(true, frame.OpClose, closePayload(2000, ""), true), close: frame.CloseProtocolError},
		{name: "close reason bad utf8", in: encodeFrame(true, frame.OpClose, closePayload(1000, "\xff"), true), close: frame.CloseInvalidPayload},
		{name: "text bad utf8", in: txt(true, "ok\xffno"), close: frame.CloseInvalidPayload},
		{name: "text truncated utf8", in: txt(true, "caf\xc3"), close: frame.CloseInvalidPayload},
		{name: "bad utf8 in second fragment", in: cat(txt(true, "first"), txt(false, "caf\xc3"), cont(true, "(")), msgs: []string{"text:first"}, close: frame.CloseInvalidPayload},
		{name: "binary may be anything", in: encodeFrame(true, frame.OpBinary, []byte{0xff}, true), msgs: []string{"binary:\xff"}},
		{name: "message too big", max: 1000, in: cat(txt(false, strings.Repeat("a", 600)), cont(true, strings.Repeat("a", 600))), close: frame.CloseTooBig, errIs: ErrMessageTooBig},
		{name: "frame too big", max: 1000, in: txt(true, strings.Repeat("a", 1001)), close: frame.CloseTooBig, errIs: ErrFrameTooBig},
		{name: "close normal is echoed", in: encodeFrame(true, frame.OpClose, closePayload(1000, "bye"), true), close: frame.CloseNormal, echo: closePayload(1000, "")},
		{name: "close empty is echoed empty", in: encodeFrame(true, frame.OpClose, nil, true), close: frame.CloseNoStatus, echo: []byte{}},
		{name: "close 4000 echoed", in: encodeFrame(true, frame.OpClose, closePayload(4000, "app"), true), close: 4000, echo: closePayload(4000, "")},
		{name: "nothing after close", in: cat(encodeFrame(true, frame.OpClose, nil, true), txt(true, "late")), close: frame.CloseNoStatus, echo: []byte{}},
	}
	for _, tc := range tests {
		for _, split := range []int{0, 1, 7} {
			t.Run(fmt.Sprintf("%s/split%d", tc.name, split), func(t *testing.T) {
				fc := &fakeConn{record: true}
				var rec msgRecorder
				in := tc.in
				if tc.client {
					in = bytes.Clone(in)
				}
				s := NewSession(fc, Options{Client: tc.client, MaxMessageSize: tc.max}, rec.handler())
				feed(s, fc, bytes.Clone(in), split)
				if fmt.Sprint(rec.msgs) != fmt.Sprint(tc.msgs) {
					t.Errorf("messages %q, want %q", rec.msgs, tc.msgs)
				}
				fs := parseFrames(t, fc.output())
				var pongs []string
				var closeF *frame.Frame
				for i := range fs {
					switch fs[i].Opcode {
					case frame.OpPong:
						pongs = append(pongs, string(fs[i].Payload))
					case frame.OpClose:
						if closeF != nil {
							t.Fatal("two close frames")
						}
						closeF = &fs[i]
					}
				}
				if fmt.Sprint(pongs) != fmt.Sprint(tc.pongs) {
					t.Errorf("pongs %q, want %q", pongs, tc.pongs)
				}
				if tc.close == 0 {
					if closeF != nil {
						t.Fatalf("unexpected close %x", closeF.Payload)
					}
					return
				}
				if closeF == nil {
					t.Fatalf("no close frame, want %d", tc.close)
				}
				if tc.echo != nil {
					if !bytes.Equal(closeF.Payload, tc.echo) {
						t.Fatalf("close echo %x, want %x", closeF.Payload, tc.echo)
					}
					var ce *CloseError
					if !errors.As(s.Err(), &ce) || ce.Code != tc.close {
						t.Fatalf("Err = %v", s.Err())
					}
				} else {
					r, err := frame.ParseCloseReason(closeF.Payload)
					if err != nil || r.Code != tc.close {
						t.Fatalf("close %x (%v), want %d", closeF.Payload, err, tc.close)
					}
					if tc.errIs != nil && !errors.Is(s.Err(), tc.errIs) {
						t.Fatalf("Err = %v, want %v", s.Err(), tc.errIs)
					}
				}
				if !fc.finned {
					t.Fatal("write side not shut after close")
				}
			})
		}
	}
}

// feed offers in to s in pieces of split bytes (0: all at once), keeping
// unconsumed bytes in front like an engine does.
func feed(s *Session, fc *fakeConn, in []byte, split int) {
	if split == 0 {
		split = len(in)
	}
	var pending []byte
	for off := 0; off < len(in); off += split {
		end := min(off+split, len(in))
		pending = append(pending, in[off:end]...)
		n := s.onData(fc, pending)
		pending = pending[n:]
	}
}

// Invalid UTF-8 fails the session at the first bad byte, before the rest
// of the frame arrives.
func TestUTF8FailsAtFirstBadByte(t *testing.T) {
	fc := &fakeConn{record: true}
	var rec msgRecorder
	s := NewSession(fc, Options{}, rec.handler())
	body := []byte(strings.Repeat("a", 500) + "\xff" + strings.Repeat("a", 499))
	// A fragment before it, valid.
	in := cat(encodeFrame(false, frame.OpText, []byte("héllo "), true), encodeFrame(false, frame.OpContinuation, body, true))
	cut := len(in) - 499 // the bad byte is the last one offered
	s.onData(fc, bytes.Clone(in[:cut]))
	fs := parseFrames(t, fc.output())
	if len(fs) != 1 || fs[0].Opcode != frame.OpClose {
		t.Fatalf("no close after the bad byte: %+v", fs)
	}
	if r, _ := frame.ParseCloseReason(fs[0].Payload); r.Code != frame.CloseInvalidPayload {
		t.Fatalf("close %v", r.Code)
	}
	// One byte earlier nothing is wrong yet.
	fc2 := &fakeConn{record: true}
	s2 := NewSession(fc2, Options{}, rec.handler())
	s2.onData(fc2, bytes.Clone(in[:cut-1]))
	if out := fc2.output(); len(out) != 0 {
		t.Fatalf("closed before the bad byte: %x", out)
	}
}

// The close handshake over a real connection: the server echoes the code
// and closes TCP.
func TestMessageCloseHandshake(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		var rec msgRecorder
		done := make(chan struct{})
		h := rec.handler()
		inner := h.Close
		h.Close = func(s *Session, err error) { inner(s, err); close(done) }
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: h}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		c.send(true, frame.OpText, []byte("hello"))
		c.send(true, frame.OpClose, closePayload(frame.CloseGoingAway, "leaving"))
		c.expectClose(frame.CloseGoingAway)
		c.expectEOF()
		c.nc.Close()
		waitDone(t, s)
		<-done
		var ce *CloseError
		if !errors.As(rec.err, &ce) || ce.Code != frame.CloseGoingAway || ce.Reason != "leaving" || !IsNormalClosure(rec.err) {
			t.Fatalf("OnClose err = %v", rec.err)
		}
		if fmt.Sprint(rec.msgs) != "[text:hello]" {
			t.Fatalf("msgs %q", rec.msgs)
		}
	})
}

// An event callback closes without blocking; the peer's answer ends the
// session in order.
func TestSendCloseFromCallback(t *testing.T) {
	fc := &fakeConn{record: true}
	var rec msgRecorder
	h := rec.handler()
	h.Message = func(s *Session, op frame.Opcode, p []byte) {
		if err := s.SendClose(frame.CloseReason{Code: frame.CloseNormal, Text: "as you wish"}); err != nil {
			t.Error(err)
		}
		if err := s.SendClose(frame.CloseReason{Code: frame.CloseNormal}); !errors.Is(err, ErrClosed) {
			t.Errorf("second close: %v", err)
		}
	}
	s := NewSession(fc, Options{}, h)
	s.onData(fc, encodeFrame(true, frame.OpText, []byte("bye"), true))
	fs := parseFrames(t, fc.output())
	if len(fs) != 1 || fs[0].Opcode != frame.OpClose || string(fs[0].Payload[2:]) != "as you wish" {
		t.Fatalf("wrote %+v", fs)
	}
	if fc.finned {
		t.Fatal("write side shut before the peer answered")
	}
	s.onData(fc, encodeFrame(true, frame.OpClose, closePayload(frame.CloseNormal, ""), true))
	if out := fc.output(); len(out) != 0 || !fc.finned {
		t.Fatalf("after the peer's answer: wrote %x, fin %v", out, fc.finned)
	}
	if !IsNormalClosure(s.Err()) {
		t.Fatalf("Err = %v", s.Err())
	}
}
