package rawws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// Seed row: frames are delivered raw; nothing is answered automatically.
func TestRawFramesDeliveredAsTheyCame(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		sent := []frame.Frame{
			{Fin: false, Opcode: frame.OpText, Payload: []byte("ab")},
			{Fin: true, Opcode: frame.OpContinuation, Payload: []byte("cd")},
			{Fin: true, Opcode: frame.OpPing, Payload: []byte("p")},
			{Fin: true, Opcode: frame.OpPong, Payload: []byte("q")},
			{Fin: true, Opcode: frame.OpBinary, Payload: bytes.Repeat([]byte{7}, 70000)},
			{Fin: true, Opcode: frame.OpClose, Payload: []byte{3, 232}},
		}
		for _, f := range sent {
			c.send(f.Fin, f.Opcode, f.Payload)
		}
		for i, want := range sent {
			got := recvFrame(t, s)
			if got.Fin != want.Fin || got.Opcode != want.Opcode || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("frame %d: got fin=%v %v %d B, want fin=%v %v %d B", i, got.Fin, got.Opcode, len(got.Payload), want.Fin, want.Opcode, len(want.Payload))
			}
		}
		// No pong, no close echo: the raw session answers nothing.
		if h, _, err := c.readFrame(200 * time.Millisecond); err == nil {
			t.Fatalf("raw session wrote %v by itself", h.Opcode)
		}
		s.Terminate()
		c.expectEOF()
	})
}

// Seed row: maxFrameSize is checked on the header, before the payload.
func TestMaxFrameSizeClosesBeforePayload(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MaxFrameSize: 1 << 20}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		if s.MaxFrameSize() != 1<<20 {
			t.Fatalf("MaxFrameSize %d", s.MaxFrameSize())
		}
		s.SetMaxFrameSize(100)
		c.send(true, frame.OpBinary, make([]byte, 100)) // at the limit: fine
		if f := recvFrame(t, s); len(f.Payload) != 100 {
			t.Fatalf("got %d B", len(f.Payload))
		}
		// Only the header of a 101-byte frame: the answer must come anyway.
		hdr := frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: frame.OpBinary, Length: 101, Masked: true})
		c.write(hdr)
		c.expectClose(frame.CloseTooBig)
		c.expectEOF()
		c.nc.Close()
		waitDone(t, s)
		if !errors.Is(s.Err(), ErrFrameTooBig) {
			t.Fatalf("Err = %v", s.Err())
		}
		if _, ok := <-s.Incoming(); ok {
			t.Fatal("incoming not closed")
		}
	})
}

// Seed row: flush returns once written; after close it returns nil.
func TestFlush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		ctx := ctx5(t)
		payload := bytes.Repeat([]byte("x"), 100000)
		for i := 0; i < 5; i++ {
			if err := s.SendBinary(ctx, payload); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := s.Buffered(); n != 0 {
			t.Fatalf("after Flush %d bytes still buffered", n)
		}
		for i := 0; i < 5; i++ {
			if _, p, err := c.readFrame(5 * time.Second); err != nil || len(p) != len(payload) {
				t.Fatalf("frame %d: %d B %v", i, len(p), err)
			}
		}
		s.Close(errors.New("done"))
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush after Close: %v", err)
		}
		waitDone(t, s)
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush after end: %v", err)
		}
	})
}

// Seed row: frames queued after a Close frame never reach the wire.
func TestFramesAfterCloseAreDropped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		ctx := ctx5(t)
		s.SendText(ctx, "before")
		if err := s.CloseWith(ctx, frame.CloseReason{Code: frame.CloseGoingAway, Text: "bye"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SendText(ctx, "after"); !errors.Is(err, ErrClosed) {
			t.Fatalf("send after close: %v", err)
		}
		// A raw Close frame through Send closes sending as well.
		if err := s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose}); !errors.Is(err, ErrClosed) {
			t.Fatalf("second close: %v", err)
		}
		if _, p, _ := c.readFrame(5 * time.Second); string(p) != "before" {
			t.Fatalf("got %q", p)
		}
		c.expectClose(frame.CloseGoingAway)
		s.Terminate()
		c.expectEOF()
	})
	// Also with a Close queued behind a busy writer (unit level).
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, Options{})
	s.mu.Lock()
	s.writing = true // pretend another goroutine is mid-write
	s.mu.Unlock()
	ctx := ctx5(t)
	s.SendText(ctx, "a")
	s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: []byte{3, 232}})
	if err := s.SendText(ctx, "b"); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after queued close: %v", err)
	}
	s.writeLoop(false)
	fs := parseFrames(t, fc.output())
	if len(fs) != 2 || string(fs[0].Payload) != "a" || fs[1].Opcode != frame.OpClose {
		t.Fatalf("wire: %+v", fs)
	}
}

// Seed row: terminate writes what is queued, then closes the write side;
// the reader runs on to EOF.
func TestTerminateWritesQueued(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		ctx := ctx5(t)
		const n = 50
		done := make(chan error, 1)
		go func() {
			for i := 0; i < n; i++ {
				if err := s.SendText(ctx, fmt.Sprint("m", i)); err != nil {
					done <- err
					return
				}
			}
			s.Terminate()
			done <- nil
		}()
		for i := 0; i < n; i++ {
			_, p, err := c.readFrame(5 * time.Second)
			if err != nil || string(p) != fmt.Sprint("m", i) {
				t.Fatalf("frame %d: %q %v", i, p, err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		c.expectEOF()
		if err := s.SendText(ctx, "late"); !errors.Is(err, ErrClosed) {
			t.Fatalf("send after terminate: %v", err)
		}
		// Reading goes on after Terminate.
		c.send(true, frame.OpText, []byte("still read"))
		if f := recvFrame(t, s); string(f.Payload) != "still read" {
			t.Fatalf("got %q", f.Payload)
		}
		c.nc.Close()
		waitDone(t, s)
		if s.Err() != nil {
			t.Fatalf("orderly end reported %v", s.Err())
		}
	})
}

// Seed row: close(cause) fails the session; close(nil) terminates.
func TestCloseCause(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		cause := errors.New("application gave up")
		s.Close(cause)
		waitDone(t, s)
		if !errors.Is(s.Err(), cause) {
			t.Fatalf("Err = %v", s.Err())
		}
		if _, ok := <-s.Incoming(); ok {
			t.Fatal("incoming open")
		}
		if err := s.SendText(context.Background(), "x"); !errors.Is(err, ErrClosed) {
			t.Fatalf("send: %v", err)
		}
		c.expectEOF()

		c2 := dialRaw(t, srv.Addr)
		s2 := srv.next(t)
		s2.SendText(context.Background(), "last")
		s2.Close(nil)
		if _, p, _ := c2.readFrame(5 * time.Second); string(p) != "last" {
			t.Fatalf("got %q", p)
		}
		c2.expectEOF()
	})
}

// Seed row: start runs the handler, then flushes and terminates.
func TestStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		c.send(true, frame.OpText, []byte("question"))
		go s.Start(func(s *Session) {
			f := <-s.Incoming()
			s.SendText(context.Background(), "answer to "+string(f.Payload))
		})
		if _, p, _ := c.readFrame(5 * time.Second); string(p) != "answer to question" {
			t.Fatalf("got %q", p)
		}
		c.expectEOF()
	})
}

// Seed row: outgoing is a bounded channel drained in order.
func TestOutgoingChannel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		out := s.Outgoing()
		if cap(out) != DefaultOutgoingFrames {
			t.Fatalf("cap %d", cap(out))
		}
		for i := 0; i < 20; i++ {
			out <- frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte(fmt.Sprint(i))}
		}
		for i := 0; i < 20; i++ {
			if _, p, err := c.readFrame(5 * time.Second); string(p) != fmt.Sprint(i) {
				t.Fatalf("frame %d: %q %v", i, p, err)
			}
		}
		close(out)
		s.Terminate()
		c.expectEOF()
	})
}

// Seed row: a full incoming stops reading that connection.
func TestIncomingFullStopsReading(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{IncomingFrames: 2}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		if cap(s.Incoming()) != 2 {
			t.Fatalf("cap %d", cap(s.Incoming()))
		}
		payload := make([]byte, 64<<10)
		frameBytes := encodeFrame(true, frame.OpBinary, payload, true)
		written := 0
		const limit = 64 << 20
		for written < limit {
			c.nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := c.nc.Write(frameBytes)
			written += n
			if err != nil {
				break
			}
		}
		if written >= limit {
			if eng.Name() == "netpoll" {
				// netpoll cannot stop reading: MaxInput must end the connection.
				waitDone(t, s)
				return
			}
			t.Fatalf("peer wrote %d bytes without being pushed back", written)
		}
		if eng.Name() == "netpoll" {
			return
		}
		// Everything written arrives, in order, once the consumer reads.
		whole := written / len(frameBytes)
		for i := 0; i < whole; i++ {
			f := recvFrame(t, s)
			if len(f.Payload) != len(payload) {
				t.Fatalf("frame %d: %d B", i, len(f.Payload))
			}
		}
		t.Logf("peer pushed back after %d bytes", written)
	})
}

// Seed row: Send blocks when the queue is full and fails once closing.
func TestSendBlocksWhenFull(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{OutgoingFrames: 2, OutgoingBytes: 64 << 10}})
		_ = dialRaw(t, srv.Addr) // never reads
		s := srv.next(t)
		payload := make([]byte, 32<<10)
		blocked := false
		for i := 0; i < 4000 && !blocked; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := s.SendBinary(ctx, payload)
			cancel()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				blocked = true
			case err != nil:
				t.Fatal(err)
			}
		}
		if !blocked {
			t.Fatal("Send never blocked on a peer that does not read")
		}
		errc := make(chan error, 1)
		go func() { errc <- s.SendBinary(context.Background(), payload) }()
		time.Sleep(50 * time.Millisecond)
		s.Close(errors.New("stop"))
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("blocked Send after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocked Send not released by Close")
		}
	})
}

// Seed row: masking is read when a frame is written, so queued frames take
// a new value.
func TestMaskingAppliesToQueuedFrames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{OutgoingFrames: 4, OutgoingBytes: 64 << 10}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		payload := make([]byte, 16<<10)
		sent, queued := 0, 0
		for i := 0; i < 4000; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := s.SendBinary(ctx, payload)
			cancel()
			if err != nil {
				break
			}
			sent++
			s.mu.Lock()
			if n := s.queuedLocked(); n > 0 {
				// Flip while frames wait: the writer reads the flag when it
				// takes them, after this lock is released.
				queued = n
				s.SetMasking(true)
			}
			s.mu.Unlock()
			if queued > 0 {
				break
			}
		}
		if queued == 0 {
			t.Fatal("no frame ever waited in the session queue")
		}
		done := make(chan error, 1)
		go func() { done <- s.SendText(context.Background(), "marker") }()
		masked, total := 0, 0
		for {
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("after %d frames: %v", total, err)
			}
			total++
			if h.Masked {
				masked++
			} else if masked > 0 {
				t.Fatal("unmasked frame after a masked one")
			}
			if string(p) == "marker" {
				break
			}
			if !bytes.Equal(p, payload) {
				t.Fatal("payload corrupted")
			}
		}
		<-done
		if total != sent+1 || masked < queued+1 {
			t.Fatalf("sent %d+1, read %d, %d masked, %d were queued at the switch", sent, total, masked, queued)
		}
		if payload[0] != 0 || !bytes.Equal(payload, make([]byte, len(payload))) {
			t.Fatal("masking modified the caller's payload")
		}
	})
}

// A fresh random key for every masked frame; the caller's bytes untouched.
func TestMaskKeyPerFrame(t *testing.T) {
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, Options{Client: true})
	payload := []byte("the same payload every time")
	orig := append([]byte(nil), payload...)
	for i := 0; i < 64; i++ {
		if err := s.SendBinary(context.Background(), payload); err != nil {
			t.Fatal(err)
		}
	}
	out := fc.output()
	keys := map[[4]byte]bool{}
	var p frame.Parser
	for len(out) > 0 {
		n, done, err := p.Parse(out)
		if err != nil || !done {
			t.Fatal(err)
		}
		h := p.Header()
		if !h.Masked {
			t.Fatal("client frame not masked")
		}
		keys[h.Key] = true
		body := append([]byte(nil), out[n:n+int(h.Length)]...)
		Mask(h.Key, 0, body)
		if !bytes.Equal(body, orig) {
			t.Fatal("bad masking")
		}
		out = out[n+int(h.Length):]
	}
	if len(keys) < 60 {
		t.Fatalf("only %d distinct keys over 64 frames", len(keys))
	}
	if !bytes.Equal(payload, orig) {
		t.Fatal("caller's payload modified")
	}
}

// Event mode never blocks: at the cap Send reports ErrQueueFull, or closes
// with 1008 under QueueFullClose.
func TestEventSendQueueFull(t *testing.T) {
	for _, policy := range []QueueFullPolicy{QueueFullError, QueueFullClose} {
		fc := &fakeConn{record: true}
		s := NewRawSession(fc, Options{Handler: HandlerFuncs{}, OutgoingFrames: 2, QueueFull: policy})
		s.mu.Lock()
		s.writing = true // the socket is busy
		s.mu.Unlock()
		ctx := context.Background()
		for i := 0; i < 2; i++ {
			if err := s.SendText(ctx, "x"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SendText(ctx, "x"); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("policy %d: %v", policy, err)
		}
		s.writeLoop(false)
		fs := parseFrames(t, fc.output())
		last := fs[len(fs)-1]
		switch policy {
		case QueueFullError:
			if len(fs) != 2 || s.Err() != nil {
				t.Fatalf("error policy wrote %d frames, err %v", len(fs), s.Err())
			}
		case QueueFullClose:
			if last.Opcode != frame.OpClose || frame.CloseCode(last.Payload[0])<<8|frame.CloseCode(last.Payload[1]) != frame.ClosePolicyViolation || !errors.Is(s.Err(), ErrQueueFull) {
				t.Fatalf("close policy: %+v err %v", last, s.Err())
			}
		}
	}
}

// A session built on a connection that is already running (the HTTP
// server's hand-over) parses what was buffered and runs OnOpen at once.
func TestNewRawSessionEventMode(t *testing.T) {
	fc := &fakeConn{record: true}
	var got []string
	opened := false
	s := NewRawSession(fc, Options{Handler: HandlerFuncs{
		Open: func(*Session) { opened = true },
		Frame: func(s *Session, f frame.Frame) {
			got = append(got, fmt.Sprintf("%v/%v/%s", f.Opcode, f.Fin, f.Payload))
		},
	}})
	if !opened || fc.h != poller.Handler(s.pollHandler()) {
		t.Fatal("not attached")
	}
	in := append(encodeFrame(false, frame.OpText, []byte("he"), true), encodeFrame(true, frame.OpContinuation, []byte("llo"), true)...)
	in = append(in, encodeFrame(true, frame.OpPing, []byte("p"), true)...)
	// Byte by byte: every split point must work.
	pending := []byte{}
	for _, b := range in {
		pending = append(pending, b)
		n := s.onData(fc, pending)
		pending = pending[n:]
	}
	want := []string{"text/false/he", "continuation/true/llo", "ping/true/p"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v", got)
	}
	if len(fc.output()) != 0 {
		t.Fatal("raw event session answered by itself")
	}
}

// RSV bits reach a raw session only when allowed; the message layer never
// accepts them.
func TestAllowedRsv(t *testing.T) {
	in := rsvFrame(0x40, frame.OpBinary, []byte("z"))
	for _, tc := range []struct {
		name      string
		opts      Options
		delivered bool
	}{
		{"raw allowed", Options{AllowedRsv: 0x40}, true},
		{"raw not allowed", Options{}, false},
		{"raw other bit allowed", Options{AllowedRsv: 0x20}, false},
		{"message mode", Options{AllowedRsv: 0x40, MessageHandler: MessageFuncs{}}, false},
	} {
		fc := &fakeConn{record: true}
		var got []frame.Frame
		if tc.opts.MessageHandler == nil {
			tc.opts.Handler = HandlerFuncs{Frame: func(s *Session, f frame.Frame) { got = append(got, f) }}
		}
		s := NewRawSession(fc, tc.opts)
		s.onData(fc, bytes.Clone(in))
		if tc.delivered {
			if len(got) != 1 || !got[0].Rsv1 || got[0].Rsv2 || string(got[0].Payload) != "z" {
				t.Errorf("%s: got %+v", tc.name, got)
			}
			continue
		}
		fs := parseFrames(t, fc.output())
		if len(got) != 0 || len(fs) != 1 || fs[0].Opcode != frame.OpClose {
			t.Errorf("%s: delivered %d, wrote %+v", tc.name, len(got), fs)
		}
	}
}

func TestMaxFrameSizeDefaults(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want int64
	}{
		{Options{}, DefaultMaxFrameSize},
		{Options{MaxFrameSize: -1}, 0},
		{Options{MaxFrameSize: 77}, 77},
		{Options{MessageHandler: MessageFuncs{}, MaxMessageSize: 1000}, 1000},
		{Options{MessageHandler: MessageFuncs{}}, DefaultMaxMessageSize},
	} {
		if got := NewRawSession(&fakeConn{}, tc.opts).MaxFrameSize(); got != tc.want {
			t.Errorf("%+v: MaxFrameSize %d, want %d", tc.opts, got, tc.want)
		}
	}
}

// The engine's callbacks are the session's business with its connection,
// not part of its API: they live on sessionConn.
func TestSessionHidesPollerCallbacks(t *testing.T) {
	typ := reflect.TypeFor[*Session]()
	for _, name := range []string{"OnOpen", "OnData", "OnClose", "OnReadEOF"} {
		if _, ok := typ.MethodByName(name); ok {
			t.Errorf("*Session has exported method %s", name)
		}
	}
	var _ poller.HalfCloseHandler = (*sessionConn)(nil)
}
