package rawws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// wireOps sends frames through a fresh session on a recording connection
// and returns the Send errors and the frames that reached the wire.
func wireOps(t *testing.T, opts Options, frames ...frame.Frame) ([]error, []frame.Frame) {
	t.Helper()
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, opts)
	var errs []error
	for _, f := range frames {
		errs = append(errs, s.Send(context.Background(), f))
	}
	return errs, parseFrames(t, fc.output())
}

func opsOf(fs []frame.Frame) string {
	out := ""
	for _, f := range fs {
		out += fmt.Sprintf("%d/%v ", f.Opcode, f.Fin)
	}
	return out
}

// Seed: fragments of a message carry the message's type and the writer
// encodes the continuations; explicit continuations are taken too.
func TestSendEncodesContinuations(t *testing.T) {
	text := func(fin bool, p string) frame.Frame {
		return frame.Frame{Fin: fin, Opcode: frame.OpText, Payload: []byte(p)}
	}
	cont := func(fin bool, p string) frame.Frame {
		return frame.Frame{Fin: fin, Opcode: frame.OpContinuation, Payload: []byte(p)}
	}
	ping := frame.Frame{Fin: true, Opcode: frame.OpPing, Payload: []byte("p")}
	cases := []struct {
		name   string
		frames []frame.Frame
		want   string
	}{
		{"typed fragments", []frame.Frame{text(false, "a"), text(false, "b"), text(true, "c")}, "1/false 0/false 0/true "},
		{"explicit continuations", []frame.Frame{text(false, "a"), cont(true, "b")}, "1/false 0/true "},
		{"a ping between fragments", []frame.Frame{text(false, "a"), ping, text(true, "b")}, "1/false 9/true 0/true "},
		{"two messages", []frame.Frame{text(false, "a"), cont(true, "b"), text(true, "c")}, "1/false 0/true 1/true "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, fs := wireOps(t, Options{}, tc.frames...)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
			}
			if got := opsOf(fs); got != tc.want {
				t.Fatalf("wire %q, want %q", got, tc.want)
			}
		})
	}
	// And on the wire of every backend.
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		for _, f := range []frame.Frame{text(false, "a"), text(false, "b"), text(true, "c")} {
			if err := s.Send(ctx5(t), f); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []frame.Opcode{frame.OpText, frame.OpContinuation, frame.OpContinuation} {
			h, _, err := c.readFrame(5 * time.Second)
			if err != nil || h.Opcode != want || h.Fin != (i == 2) {
				t.Fatalf("frame %d: %v fin %v %v, want %v", i, h.Opcode, h.Fin, err, want)
			}
		}
	})
}

// Send refuses what RFC 6455 forbids with ErrInvalidFrame, queues nothing
// of it, and the session goes on.
func TestSendRefusesInvalidFrames(t *testing.T) {
	big := make([]byte, 200)
	good := frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: []byte("ok")}
	cases := []struct {
		name   string
		opts   Options
		before []frame.Frame
		bad    frame.Frame
	}{
		{name: "ping over 125 bytes", bad: frame.Frame{Fin: true, Opcode: frame.OpPing, Payload: big}},
		{name: "close over 125 bytes", bad: frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: big}},
		{name: "fragmented ping", bad: frame.Frame{Opcode: frame.OpPing}},
		{name: "close with a 1-byte payload", bad: frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: []byte{3}}},
		{name: "reserved data opcode", bad: frame.Frame{Fin: true, Opcode: 3}},
		{name: "reserved control opcode", bad: frame.Frame{Fin: true, Opcode: 0xB}},
		{name: "RSV1 without an extension", bad: frame.Frame{Fin: true, Opcode: frame.OpText, Rsv1: true}},
		{name: "RSV3 when only RSV1 is allowed", opts: Options{AllowedRsv: 0x40}, bad: frame.Frame{Fin: true, Opcode: frame.OpText, Rsv3: true}},
		{name: "continuation with no message open", bad: frame.Frame{Fin: true, Opcode: frame.OpContinuation}},
		{name: "binary while a text message is open",
			before: []frame.Frame{{Opcode: frame.OpText, Payload: []byte("a")}},
			bad:    frame.Frame{Fin: true, Opcode: frame.OpBinary}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeConn{record: true}
			s := NewRawSession(fc, tc.opts)
			ctx := context.Background()
			for _, f := range tc.before {
				if err := s.Send(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			fc.output()
			if err := s.Send(ctx, tc.bad); !errors.Is(err, ErrInvalidFrame) {
				t.Fatalf("Send = %v, want ErrInvalidFrame", err)
			}
			if out := fc.output(); len(out) != 0 {
				t.Fatalf("refused frame reached the wire: %x", out)
			}
			if len(tc.before) == 0 {
				if err := s.Send(ctx, good); err != nil || s.Err() != nil {
					t.Fatalf("session after a refusal: Send %v, Err %v", err, s.Err())
				}
			}
		})
	}
	// Bits an extension negotiated pass.
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, Options{AllowedRsv: 0x40})
	if err := s.Send(context.Background(), frame.Frame{Fin: true, Opcode: frame.OpText, Rsv1: true}); err != nil {
		t.Fatalf("RSV1 with AllowedRsv: %v", err)
	}
	if out := fc.output(); len(out) != 2 || out[0] != 0xc1 {
		t.Fatalf("RSV1 with AllowedRsv wrote %x", out)
	}
}

// The RFC 6455 checks and the continuation encoding cost no allocation:
// a fragmented message with a ping inside it is sent allocation-free.
func TestSendRulesZeroAllocs(t *testing.T) {
	fc := &fakeConn{}
	s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
	ctx := context.Background()
	p := []byte("fragment")
	run := func() {
		for _, f := range []frame.Frame{
			{Opcode: frame.OpText, Payload: p},
			{Fin: true, Opcode: frame.OpPing, Payload: p},
			{Opcode: frame.OpText, Payload: p},
			{Fin: true, Opcode: frame.OpContinuation, Payload: p},
			{Fin: true, Opcode: frame.OpBinary, Payload: p},
		} {
			if err := s.Send(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if a := testing.AllocsPerRun(200, run); a != 0 && !raceEnabled {
		t.Fatalf("%v allocations per fragmented message", a)
	}
}

// With permessage-deflate negotiated, the last fragment of a message is
// not compressed on its own (RSV1 on a continuation is a protocol error):
// the peer reassembles the message.
func TestSendFragmentsNotCompressed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		got := make(chan string, 1)
		h := MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) { got <- string(p) }}
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: h, Compression: &Compression{}}})
		ctx := ctx5(t)
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{Compression: &Compression{}, MessageHandler: MessageFuncs{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		server := srv.next(t)
		part := strings.Repeat("a", 4096)
		for _, f := range []frame.Frame{{Opcode: frame.OpText, Payload: []byte(part)}, {Fin: true, Opcode: frame.OpText, Payload: []byte(part)}} {
			if err := s.Send(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case m := <-got:
			if m != part+part {
				t.Fatalf("got %d bytes", len(m))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no message; server Err %v", server.Err())
		}
	})
}

// A prepared frame (SendPrepared, Broadcast, a hub publish) is a whole
// message: sent while a fragmented message of Send is open it would land
// inside it, so it is refused, counted as a drop, and the open message
// goes on.
func TestSendPreparedRefusedInsideFragmentedMessage(t *testing.T) {
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, Options{})
	ctx := context.Background()
	if err := s.Send(ctx, frame.Frame{Opcode: frame.OpText, Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	pf := PrepareMessage(frame.OpBinary, []byte("whole"))
	defer pf.Release()
	if err := s.SendPrepared(ctx, pf); !errors.Is(err, ErrInvalidFrame) {
		t.Fatalf("SendPrepared inside a fragmented message: %v, want ErrInvalidFrame", err)
	}
	res, _ := Broadcast(ctx, []*Session{s}, pf)
	if res.Dropped != 1 || res.Sent != 0 {
		t.Fatalf("Broadcast inside a fragmented message: %+v, want 1 dropped", res)
	}
	if err := s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SendPrepared(ctx, pf); err != nil {
		t.Fatalf("SendPrepared after the message ended: %v", err)
	}
	if got := opsOf(parseFrames(t, fc.output())); got != "1/false 0/true 2/true " {
		t.Fatalf("wire: %s", got)
	}
}

// A refused SendPrepared on a closed session carries the cause.
func TestSendPreparedClosedCarriesCause(t *testing.T) {
	s := NewRawSession(&fakeConn{record: true}, Options{})
	cause := errors.New("the cause")
	s.Close(cause)
	pf := PrepareMessage(frame.OpBinary, []byte("x"))
	defer pf.Release()
	err := s.SendPrepared(context.Background(), pf)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, cause) {
		t.Fatalf("SendPrepared after Close(cause): %v, want ErrClosed and the cause", err)
	}
}
