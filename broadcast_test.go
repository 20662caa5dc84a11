package rawws

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
)

// Broadcast counts what became of each session and never waits for a full
// queue, in any mode.
func TestBroadcastResult(t *testing.T) {
	ctx := context.Background()
	filler := PrepareMessage(frame.OpText, []byte("x"))
	defer filler.Release()
	full := func(o Options) *Session {
		o.OutgoingFrames = 1
		s := newSession(o) // unattached: the queue stays full
		if err := s.SendPrepared(ctx, filler); err != nil {
			t.Fatal(err)
		}
		return s
	}
	fc1, fc2 := &fakeConn{record: true}, &fakeConn{record: true}
	ok1 := NewRawSession(fc1, Options{Handler: HandlerFuncs{}})
	ok2 := NewRawSession(fc2, Options{Client: true}) // channel mode, masking
	dropper := full(Options{Handler: HandlerFuncs{}})
	chanFull := full(Options{}) // channel mode: Broadcast must not block on it
	closer := full(Options{MessageHandler: MessageFuncs{}, QueueFull: QueueFullClose})
	gone := NewRawSession(&fakeConn{}, Options{Handler: HandlerFuncs{}})
	gone.Close(errors.New("bye"))

	payload := pattern(300, 3)
	done := make(chan struct{})
	var r BroadcastResult
	var err error
	go func() {
		r, err = BroadcastFrame(ctx, []*Session{ok1, dropper, ok2, chanFull, closer, gone}, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: payload})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Broadcast blocked on a full queue")
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := (BroadcastResult{Sent: 2, Dropped: 2, Closed: 1, Skipped: 1}); r != want {
		t.Fatalf("result %+v, want %+v", r, want)
	}
	for i, fc := range []*fakeConn{fc1, fc2} {
		fs := decodeAll(t, fc.output())
		if len(fs) != 1 || !bytes.Equal(fs[0].p, payload) || fs[0].h.Masked != (i == 1) {
			t.Fatalf("session %d got %d frames", i, len(fs))
		}
	}
	if !errors.Is(closer.Err(), ErrQueueFull) {
		t.Fatalf("closer err %v", closer.Err())
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := BroadcastFrame(cctx, []*Session{ok1}, frame.Frame{Fin: true, Opcode: frame.OpText}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: %v", err)
	}
	pf := PrepareMessage(frame.OpText, nil)
	pf.Release()
	if _, err := Broadcast(ctx, []*Session{ok1}, pf); !errors.Is(err, ErrPreparedReleased) {
		t.Fatalf("released frame: %v", err)
	}
}
