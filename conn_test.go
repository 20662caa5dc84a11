package rawws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// A peer whose TCP ends (EOF) inside a frame or a fragmented message did
// not end the session in order: Err wraps io.ErrUnexpectedEOF. EOF between
// frames stays an orderly end (nil).
func TestEOFInsideFrameIsAnError(t *testing.T) {
	whole := encodeFrame(true, frame.OpBinary, []byte("hello"), true)
	first := encodeFrame(false, frame.OpBinary, []byte("hel"), true)
	cases := []struct {
		name    string
		msgMode bool
		in      []byte
		wantErr bool
	}{
		{"raw: between frames", false, whole, false},
		{"raw: inside a frame", false, whole[:len(whole)-2], true},
		{"message: between messages", true, whole, false},
		{"message: inside a frame", true, whole[:len(whole)-2], true},
		{"message: between fragments", true, first, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeConn{}
			opts := Options{Handler: HandlerFuncs{}}
			if tc.msgMode {
				opts = Options{MessageHandler: MessageFuncs{}}
			}
			s := NewRawSession(fc, opts)
			if n := s.onData(fc, append([]byte(nil), tc.in...)); n != len(tc.in) {
				t.Fatalf("consumed %d of %d", n, len(tc.in))
			}
			s.onClose(fc, io.EOF)
			err := s.Err()
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != tc.wantErr || (!tc.wantErr && err != nil) {
				t.Fatalf("Err = %v, want unexpected EOF: %v", err, tc.wantErr)
			}
		})
	}
}

// lossyConn is a connection that lost queued bytes when it closed: its
// Flush reports that, as backends do after a reset with a backlog.
type lossyConn struct{ *fakeConn }

func (lossyConn) Flush(context.Context) error {
	return fmt.Errorf("peer reset with 4096 bytes unwritten: %w", poller.ErrClosed)
}

// A loss is never a clean end: frames still queued in the session when the
// peer closes make Err non-nil, and bytes the connection lost make Flush
// after the close fail; a clean close still flushes to nil.
func TestLossIsNotSilent(t *testing.T) {
	t.Run("frames queued at EOF", func(t *testing.T) {
		fc := &fakeConn{}
		s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
		s.mu.Lock()
		s.writing = true // the writer is busy: the next frame waits in the queue
		s.mu.Unlock()
		if err := s.SendText(context.Background(), "never written"); err != nil {
			t.Fatal(err)
		}
		s.onClose(fc, io.EOF)
		if !errors.Is(s.Err(), ErrClosed) {
			t.Fatalf("Err = %v, want the unsent frame reported (ErrClosed)", s.Err())
		}
	})
	t.Run("connection lost bytes", func(t *testing.T) {
		lc := lossyConn{&fakeConn{}}
		s := NewRawSession(lc, Options{Handler: HandlerFuncs{}})
		s.onClose(lc, io.EOF)
		if err := s.Flush(context.Background()); !errors.Is(err, poller.ErrClosed) {
			t.Fatalf("Flush after a lossy close = %v, want the connection's error", err)
		}
	})
	t.Run("clean close", func(t *testing.T) {
		fc := &fakeConn{}
		s := NewRawSession(fc, Options{Handler: HandlerFuncs{}})
		if err := s.SendText(context.Background(), "written"); err != nil {
			t.Fatal(err)
		}
		s.onClose(fc, io.EOF)
		if err := s.Flush(context.Background()); err != nil || s.Err() != nil {
			t.Fatalf("Flush = %v, Err = %v after a clean close, want nil, nil", err, s.Err())
		}
	})
}
