package rawws

import (
	"errors"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// A session handed its connection before it is attached (the HTTP
// server's upgrade) keeps the bytes that arrive and holds a close until
// complete: the user's OnOpen always comes first, then the messages or
// the OnClose.
func TestPendingSession(t *testing.T) {
	newPending := func() (*Session, *fakeConn, func() []string) {
		var mu sync.Mutex
		var events []string
		add := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
		opts := Options{MessageHandler: MessageFuncs{
			Open:    func(*Session) { add("open") },
			Message: func(_ *Session, _ frame.Opcode, p []byte) { add("message " + string(p)) },
			Close:   func(_ *Session, err error) { add("close") },
		}}
		shared := opts
		s := newSessionShared(&shared)
		s.flags.Or(flagPending)
		fc := &fakeConn{h: s.pollHandler()}
		return s, fc, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(events) }
	}

	t.Run("bytes wait", func(t *testing.T) {
		s, fc, events := newPending()
		in := encodeFrame(true, frame.OpText, []byte("early"), true)
		if n := s.onData(fc, slices.Clone(in)); n != 0 {
			t.Fatalf("pending session consumed %d bytes", n)
		}
		s.complete(fc)
		if fc.h != poller.Handler(s.pollHandler()) {
			t.Fatal("complete did not make the session the connection's handler")
		}
		// The engine offers the held bytes again (SetHandler).
		if n := s.onData(fc, slices.Clone(in)); n != len(in) {
			t.Fatalf("attached session consumed %d of %d bytes", n, len(in))
		}
		if got, want := events(), []string{"open", "message early"}; !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
	})

	t.Run("close held", func(t *testing.T) {
		s, fc, events := newPending()
		s.onClose(fc, io.ErrUnexpectedEOF)
		if got := events(); len(got) != 0 {
			t.Fatalf("events before complete: %q", got)
		}
		s.complete(fc)
		if got, want := events(), []string{"open", "close"}; !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
		if err := s.Err(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Err = %v, want the held close's cause", err)
		}
		select {
		case <-s.Done():
		default:
			t.Fatal("Done not closed after the held close")
		}
	})
}
