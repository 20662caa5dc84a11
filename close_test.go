package rawws

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// Raw modes too: a peer whose TCP ends after a Fin=false fragment left its
// message unfinished, which Err reports as io.ErrUnexpectedEOF.
func TestRawEOFInsideFragmentedMessage(t *testing.T) {
	first := encodeFrame(false, frame.OpText, []byte("hel"), true)
	whole := append(append([]byte(nil), first...), encodeFrame(true, frame.OpContinuation, []byte("lo"), true)...)
	for _, tc := range []struct {
		name string
		opts Options
	}{{"channel", Options{}}, {"frames", Options{Handler: HandlerFuncs{}}}} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeConn{}
			s := NewRawSession(fc, tc.opts)
			s.onData(fc, append([]byte(nil), first...))
			s.onClose(fc, io.EOF)
			if !errors.Is(s.Err(), io.ErrUnexpectedEOF) {
				t.Fatalf("EOF after a Fin=false fragment: Err = %v", s.Err())
			}
			fc = &fakeConn{}
			s = NewRawSession(fc, tc.opts)
			s.onData(fc, append([]byte(nil), whole...))
			s.onClose(fc, io.EOF)
			if s.Err() != nil {
				t.Fatalf("EOF after a finished message: Err = %v", s.Err())
			}
		})
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		c.send(false, frame.OpText, []byte("hel"))
		if f := recvFrame(t, s); f.Fin {
			t.Fatal("fragment delivered with Fin")
		}
		c.nc.Close()
		waitDone(t, s)
		if !errors.Is(s.Err(), io.ErrUnexpectedEOF) {
			t.Fatalf("Err = %v, want io.ErrUnexpectedEOF", s.Err())
		}
	})
}

// Seed: the writer closes its output once a Close frame is written. A raw
// Send of a Close shuts the write side then, not at CloseTimeout, and
// frames after it fail.
func TestRawCloseShutsWriteSide(t *testing.T) {
	fc := &fakeConn{record: true}
	s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
	if err := s.Send(context.Background(), frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: closePayload(frame.CloseNormal, "")}); err != nil {
		t.Fatal(err)
	}
	if !fc.finned {
		t.Fatal("write side still open after the Close was written")
	}
	if err := s.SendText(context.Background(), "late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{CloseTimeout: time.Minute}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		ctx := ctx5(t)
		s.SendText(ctx, "before")
		if err := s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: closePayload(frame.CloseNormal, "")}); err != nil {
			t.Fatal(err)
		}
		if err := s.SendText(ctx, "after"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if _, p, err := c.readFrame(5 * time.Second); string(p) != "before" {
			t.Fatalf("got %q %v", p, err)
		}
		c.expectClose(frame.CloseNormal)
		// The FIN comes now, well before the minute of CloseTimeout.
		if _, _, err := c.readFrame(2 * time.Second); !errors.Is(err, io.EOF) {
			t.Fatalf("after the Close: %v, want EOF", err)
		}
	})
}

// An orderly close we started (CloseWith 1000) and the peer answered ends
// the session with Err nil, as documented.
func TestCloseWithAnsweredIsOrderly(t *testing.T) {
	fc := &fakeConn{record: true}
	s := NewSession(fc, Options{}, MessageFuncs{})
	if err := s.CloseWith(context.Background(), frame.CloseReason{Code: frame.CloseNormal}); err != nil {
		t.Fatal(err)
	}
	s.onData(fc, encodeFrame(true, frame.OpClose, closePayload(frame.CloseNormal, ""), true))
	s.onClose(fc, io.EOF)
	if err := s.Err(); err != nil {
		t.Fatalf("Err = %v after an answered CloseWith", err)
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: MessageFuncs{}}})
		c := dialRaw(t, srv.Addr)
		s := srv.next(t)
		go s.CloseWith(context.Background(), frame.CloseReason{Code: frame.CloseNormal, Text: "done"})
		c.expectClose(frame.CloseNormal)
		c.send(true, frame.OpClose, closePayload(frame.CloseNormal, ""))
		c.expectEOF()
		c.nc.Close()
		waitDone(t, s)
		if err := s.Err(); err != nil {
			t.Fatalf("Err = %v after an answered CloseWith", err)
		}
	})
	// A close the peer started still reports its CloseError.
	fc = &fakeConn{record: true}
	s = NewSession(fc, Options{}, MessageFuncs{})
	s.onData(fc, encodeFrame(true, frame.OpClose, closePayload(frame.CloseGoingAway, "bye"), true))
	var ce *CloseError
	if !errors.As(s.Err(), &ce) || ce.Code != frame.CloseGoingAway {
		t.Fatalf("peer-started close: Err = %v", s.Err())
	}
}

// Arguments are checked: what a program can meet at run time is an error,
// a setup mistake a documented panic.
func TestArgumentChecks(t *testing.T) {
	t.Run("Pinger", func(t *testing.T) {
		if _, err := Pinger(nil, time.Second, time.Second); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Pinger(nil): %v", err)
		}
		for _, d := range [][2]time.Duration{{0, 0}, {0, time.Second}, {time.Second, 0}, {-time.Second, time.Second}} {
			fc := &fakeConn{record: true}
			s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
			stop, err := Pinger(s, d[0], d[1])
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Pinger(s, %v, %v): %v", d[0], d[1], err)
			}
			stop() // a no-op, never nil
			time.Sleep(20 * time.Millisecond)
			if s.Err() != nil || len(fc.output()) != 0 {
				t.Fatalf("Pinger(s, %v, %v) touched the session: Err %v", d[0], d[1], s.Err())
			}
			if err := s.SendText(context.Background(), "alive"); err != nil {
				t.Fatalf("session after a refused Pinger: %v", err)
			}
		}
	})
	t.Run("NewRawSession(nil)", func(t *testing.T) {
		defer func() {
			msg, _ := recover().(string)
			if !strings.Contains(msg, "rawws: NewRawSession: nil") {
				t.Fatalf("panic %q, want the documented one", msg)
			}
		}()
		NewRawSession(nil, Options{})
	})
}

// OnReadEOF keeps the connection open exactly while the session owes the
// peer something, and then ends it itself.
func TestOnReadEOF(t *testing.T) {
	t.Run("message mode, nothing owed", func(t *testing.T) {
		fc := &fakeConn{record: true}
		s := NewSession(fc, Options{}, MessageFuncs{})
		if s.onReadEOF(fc) {
			t.Fatal("kept open with nothing to write")
		}
	})
	t.Run("message mode, frames queued", func(t *testing.T) {
		fc := &fakeConn{record: true}
		s := NewSession(fc, Options{}, MessageFuncs{})
		busy(s)
		s.SendText(context.Background(), "owed")
		if !s.onReadEOF(fc) {
			t.Fatal("closed with a frame still queued")
		}
		if fc.finned {
			t.Fatal("FIN before the queued frame")
		}
		s.writeLoop(false)
		if fs := parseFrames(t, fc.output()); len(fs) != 1 || string(fs[0].Payload) != "owed" || !fc.finned {
			t.Fatalf("wrote %+v, fin %v", fs, fc.finned)
		}
	})
	t.Run("frame mode, Close answered later", func(t *testing.T) {
		fc := &fakeConn{record: true}
		s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
		s.onData(fc, encodeFrame(true, frame.OpClose, closePayload(frame.CloseNormal, ""), true))
		if !s.onReadEOF(fc) {
			t.Fatal("closed before the handler answered the peer's Close")
		}
		if err := s.Send(context.Background(), frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: closePayload(frame.CloseNormal, "")}); err != nil {
			t.Fatal(err)
		}
		if fs := parseFrames(t, fc.output()); len(fs) != 1 || fs[0].Opcode != frame.OpClose || !fc.finned {
			t.Fatalf("wrote %+v, fin %v", fs, fc.finned)
		}
	})
	t.Run("frame mode, Close answered in OnFrame", func(t *testing.T) {
		fc := &fakeConn{record: true}
		s := NewRawSession(fc, Options{Handler: HandlerFuncs{Frame: func(s *Session, f frame.Frame) { s.SendCopy(context.Background(), f) }}})
		s.onData(fc, encodeFrame(true, frame.OpClose, closePayload(frame.CloseNormal, ""), true))
		if s.onReadEOF(fc) {
			t.Fatal("kept open with the Close answered and the write side shut")
		}
	})
	t.Run("channel mode, nothing taken", func(t *testing.T) {
		fc := &fakeConn{record: true}
		s := NewRawSession(fc, Options{})
		s.onData(fc, encodeFrame(true, frame.OpText, []byte("question"), true))
		if !s.onReadEOF(fc) {
			t.Fatal("closed before the consumer took its frame")
		}
		if f := recvFrame(t, s); string(f.Payload) != "question" {
			t.Fatalf("got %q", f.Payload)
		}
		if _, ok := <-s.Incoming(); ok {
			t.Fatal("Incoming still open after the peer's FIN")
		}
		// The consumer took the last frame: the session ends by itself.
		waitFor(t, func() bool { fc.mu.Lock(); defer fc.mu.Unlock(); return fc.finned })
	})
	t.Run("channel mode, Start running", func(t *testing.T) {
		fc := &fakeConn{record: true}
		s := NewRawSession(fc, Options{})
		answer := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Start(func(s *Session) {
				<-answer
				s.SendText(context.Background(), "answer")
			})
		}()
		waitFor(t, func() bool { return s.flags.Load()&flagInStart != 0 })
		if !s.onReadEOF(fc) {
			t.Fatal("closed while Start's handler may still answer")
		}
		if _, ok := <-s.Incoming(); ok {
			t.Fatal("Incoming still open after the peer's FIN")
		}
		close(answer)
		<-done
		if fs := parseFrames(t, fc.output()); len(fs) != 1 || string(fs[0].Payload) != "answer" || !fc.finned {
			t.Fatalf("wrote %+v, fin %v", fs, fc.finned)
		}
	})
	t.Run("channel mode, nothing owed", func(t *testing.T) {
		fc := &fakeConn{}
		if NewRawSession(fc, Options{}).onReadEOF(fc) {
			t.Fatal("kept open with nothing to answer")
		}
	})
	t.Run("channel mode, already terminated", func(t *testing.T) {
		fc := &fakeConn{}
		s := NewRawSession(fc, Options{})
		s.Terminate()
		if s.onReadEOF(fc) {
			t.Fatal("kept open after our FIN")
		}
	})
	t.Run("bounded by CloseTimeout", func(t *testing.T) {
		fc := &fakeConn{}
		s := NewRawSession(fc, Options{CloseTimeout: 20 * time.Millisecond})
		s.onData(fc, encodeFrame(true, frame.OpText, []byte("never taken"), true))
		if !s.onReadEOF(fc) {
			t.Fatal("closed at once")
		}
		waitDone(t, s)
		if !errors.Is(s.Err(), ErrCloseTimeout) {
			t.Fatalf("Err = %v", s.Err())
		}
	})
}

// waitFor waits up to 5 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
	}
}

// A FIN that comes while the session is pending (the HTTP server's
// hand-off) is handled once the user's OnOpen has run, whether it came
// before the session was attached or after.
func TestOnReadEOFWhilePending(t *testing.T) {
	newPending := func(open func(*Session)) (*Session, *fakeConn) {
		opts := Options{MessageHandler: MessageFuncs{Open: open}}
		shared := opts
		s := newSessionShared(&shared)
		s.flags.Or(flagPending)
		return s, &fakeConn{h: s.pollHandler(), record: true}
	}
	finned := func(fc *fakeConn) func() bool {
		return func() bool { fc.mu.Lock(); defer fc.mu.Unlock(); return fc.finned }
	}
	t.Run("before attach", func(t *testing.T) {
		s, fc := newPending(func(s *Session) { s.SendText(context.Background(), "hello") })
		if !s.onReadEOF(fc) {
			t.Fatal("closed before OnOpen ran")
		}
		s.complete(fc)
		waitFor(t, finned(fc))
		if fs := parseFrames(t, fc.output()); len(fs) != 1 || string(fs[0].Payload) != "hello" {
			t.Fatalf("wrote %+v: OnOpen's frame must go out before the FIN", fs)
		}
	})
	t.Run("during OnOpen", func(t *testing.T) {
		var s *Session
		var fc *fakeConn
		s, fc = newPending(func(s *Session) {
			if !s.onReadEOF(fc) {
				t.Error("closed while OnOpen runs")
			}
			s.SendText(context.Background(), "hello")
		})
		s.complete(fc)
		waitFor(t, finned(fc))
		if fs := parseFrames(t, fc.output()); len(fs) != 1 || string(fs[0].Payload) != "hello" {
			t.Fatalf("wrote %+v", fs)
		}
	})
}
