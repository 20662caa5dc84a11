package rawws

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
)

// The registry costs the group one slot per session and no allocation:
// sessions leave from any place, the last one taking the slot.
func TestGroupSlots(t *testing.T) {
	g := &Group{}
	ss := make([]*Session, 200)
	for i := range ss {
		ss[i] = &Session{}
		g.join(ss[i])
	}
	for i := 0; i < len(ss); i += 2 {
		g.leave(ss[(i*7)%len(ss)], nil)
	}
	g.leave(ss[0], nil) // already gone: no effect
	left := map[*Session]bool{}
	for i := 0; i < len(ss); i += 2 {
		left[ss[(i*7+1)%len(ss)]] = true
	}
	if g.Len() != len(left) {
		t.Fatalf("%d sessions registered, want %d", g.Len(), len(left))
	}
	for i, s := range g.sessions {
		if !left[s] || int(s.regIdx) != i+1 {
			t.Fatalf("slot %d holds %p (index %d), not a live session in its slot", i, s, s.regIdx)
		}
	}
	if m := g.Stats(); m.Closed.Normal != uint64(len(ss)-len(left)) || m.Open != int64(len(left)) {
		t.Fatalf("metrics: %d closed normally, %d open", m.Closed.Normal, m.Open)
	}
	x := &Session{}
	if a := testing.AllocsPerRun(1000, func() {
		g.join(x)
		g.leave(x, nil)
	}); a != 0 {
		t.Fatalf("register+unregister: %v allocations", a)
	}
}

// Group.Stats' traffic totals are exact: every session's frames and
// bytes, live or gone, with no walk over the sessions.
func TestGroupStatsExact(t *testing.T) {
	g := &Group{}
	var in, out uint64
	for i := 0; i < 3*statShards; i++ {
		s := &Session{}
		g.join(s)
		s.countIn(i%3, 100+i)
		s.countOut(1, 10+i)
		in += uint64(100 + i)
		out += uint64(10 + i)
		s.sink.Load().queued(i % 5)
		if i%2 == 0 {
			g.leave(s, nil)
		}
		s.countOut(1, 1) // a batch finishing after the end still counts
		out++
	}
	m := g.Stats()
	if m.BytesIn != in || m.BytesOut != out || m.FramesIn != 3*statShards || m.FramesOut != 2*3*statShards || m.QueueHighWater != 4 {
		t.Fatalf("metrics %+v, want %d/%d bytes in/out, %d/%d frames, high water 4", m, in, out, 3*statShards, 2*3*statShards)
	}
}

// Drain sends every member its 1001 behind what it queued, refuses
// upgrades from then on, and closes what did not answer in time with
// ErrShutdownTimeout, returning an error wrapping ctx.Err().
func TestGroupDrain(t *testing.T) {
	g := &Group{}
	fc := &fakeConn{record: true}
	var closed error
	s := NewRawSession(fc, Options{Group: g, MessageHandler: MessageFuncs{Close: func(_ *Session, err error) { closed = err }}})
	if g.Len() != 1 {
		t.Fatalf("%d sessions in the group after NewRawSession, want 1", g.Len())
	}
	if err := s.SendText(context.Background(), "before"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := g.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %v, want the deadline", err)
	}
	if !errors.Is(closed, ErrShutdownTimeout) || g.Len() != 0 {
		t.Fatalf("session ended with %v, %d left; want ErrShutdownTimeout and none", closed, g.Len())
	}
	fs := parseFrames(t, fc.output())
	if len(fs) != 2 || string(fs[0].Payload) != "before" || fs[1].Opcode != frame.OpClose {
		t.Fatalf("wire %v, want the text then the drain's Close", fs)
	}
	if r, _ := frame.ParseCloseReason(fs[1].Payload); r.Code != frame.CloseGoingAway {
		t.Fatalf("drain Close code %d, want 1001", r.Code)
	}
	if st := g.Stats(); st.Accepted != 1 || st.Closed.Timeout != 1 || st.Open != 0 {
		t.Fatalf("stats %+v: want 1 accepted, 1 timed out, none open", st)
	}
	if err := refuseDraining(g); !errors.Is(err, ErrDraining) {
		t.Fatalf("a drained group admits upgrades: %v", err)
	}
}
