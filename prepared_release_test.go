package rawws

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/rawws/rawws/frame"
)

// A second Release is a mistake a program meets at run time (two paths
// both believing they own the frame), so it is an error with no effect:
// the frame stays intact for the sessions still holding it, instead of
// their reference being dropped and the buffer reused under them.
func TestPreparedSecondReleaseIsAnError(t *testing.T) {
	ctx := context.Background()
	want := pattern(1000, 3)
	pf := PrepareMessage(frame.OpBinary, want)
	s := newSession(Options{Handler: HandlerFuncs{}}) // unattached: keeps the frame queued
	if err := s.SendPrepared(ctx, pf); err != nil {
		t.Fatal(err)
	}
	if err := pf.Release(); err != nil {
		t.Fatalf("first Release: %v", err)
	}
	if err := pf.Release(); !errors.Is(err, ErrPreparedReleased) {
		t.Fatalf("second Release: %v, want ErrPreparedReleased", err)
	}
	if n := pf.refs.Load(); n != 1 || pf.buf == nil {
		t.Fatalf("after a second Release: %d references, buffer kept %v; want the queued one's", n, pf.buf != nil)
	}
	// Another frame would reuse a buffer given back too early.
	other := PrepareMessage(frame.OpBinary, pattern(1000, 200))
	defer other.Release()
	if err := s.SendPrepared(ctx, pf); !errors.Is(err, ErrPreparedReleased) {
		t.Fatalf("SendPrepared after Release: %v, want ErrPreparedReleased", err)
	}
	fc := &fakeConn{record: true}
	s.setConn(fc)
	got := decodeAll(t, fc.output())
	if len(got) != 1 || !bytes.Equal(got[0].p, want) {
		t.Fatalf("the session wrote %d frames, first intact: %v", len(got), len(got) == 1 && bytes.Equal(got[0].p, want))
	}
	if pf.refs.Load() != 0 || pf.buf != nil {
		t.Fatal("the buffer was not given back after the last write")
	}
	if err := pf.Release(); !errors.Is(err, ErrPreparedReleased) {
		t.Fatalf("Release of a freed frame: %v, want ErrPreparedReleased", err)
	}
}
