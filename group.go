package rawws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/grow"
)

// ErrDraining: the session's Group is draining or has drained, so the
// upgrade was refused (answered 503) and no session started.
var ErrDraining = errors.New("rawws: group draining")

// ErrShutdownTimeout is the cause of sessions that had not finished their
// close handshake when Drain's context ended; they were closed at once.
var ErrShutdownTimeout = errors.New("rawws: shutdown deadline reached")

// Group is a set of live sessions that are registered, counted and drained
// together: what a server keeps of its WebSocket sessions, open to any
// program that starts its own (UpgradeHTTP, Accept, Dial, NewRawSession).
// A session joins the Group its Options.Group names when it opens, before
// its handler's OnOpen, and leaves it when its connection is gone, before
// its handler's OnClose. Its traffic is counted in the group's counters as
// it happens, with atomic adds and no lock on the per-frame path, and why
// it ended is counted when it leaves (see Stats).
//
// Membership costs a session no memory of its own beyond the slot index
// and counter pointer every Session carries, and no allocation: the group
// is a slice that each session knows its place in.
//
// The zero Group is ready to use; it must not be copied after first use.
// All methods are safe for concurrent use.
type Group struct {
	mu       sync.Mutex
	sessions []*Session // each knows its slot (Session.regIdx)
	next     uint32     // the shard the next session gets
	draining atomic.Bool

	accepted atomic.Uint64
	closed   [closeKinds]atomic.Uint64
	protocol [closeCodeSlots + 1]atomic.Uint64 // last slot: other codes
	// shards hold the traffic of every session that joined, live or gone,
	// so Stats sums statShards lines instead of walking the sessions, and
	// an idle session carries one pointer instead of its own counters.
	shards [statShards]statShard
}

// Len is the number of live sessions in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}

// goingAway is the close payload the drain sends: 1001 and a reason.
var goingAway = func() []byte {
	p, err := frame.AppendCloseReason(nil, frame.CloseReason{Code: frame.CloseGoingAway, Text: "server shutting down"})
	if err != nil {
		panic(err)
	}
	return p
}()

// drainPoll is how often Drain looks whether its sessions are gone.
const drainPoll = 2 * time.Millisecond

// Drain closes every session of the group gracefully:
//
//  1. the group stops taking sessions: upgrades naming it are answered
//     503 and fail with ErrDraining (a session that joins anyway, through
//     Dial or NewRawSession, is drained at once);
//  2. every live session gets a Close frame 1001 "server shutting down",
//     queued behind the frames already queued, so every message sent
//     before Drain still reaches its peer first (channel-mode sessions,
//     which may not be reading Incoming, are also half-closed, so the
//     peer's answer and EOF end them);
//  3. it waits for the sessions to finish the close handshake (message
//     mode answers the peer's Close and closes; raw sessions end when the
//     peer closes);
//  4. when ctx ends first, whatever is left is closed at once (those
//     sessions end with ErrShutdownTimeout) and the error wraps ctx.Err().
//
// It blocks until the group is empty or ctx ends. A drained group stays
// closed to new sessions. Drain may be called again: sessions already sent
// their 1001 are not sent another, and with a context already done it
// closes what is left at once.
func (g *Group) Drain(ctx context.Context) error {
	g.mu.Lock()
	g.draining.Store(true)
	live := append([]*Session(nil), g.sessions...)
	g.mu.Unlock()
	for _, s := range live {
		s.goAway()
	}
	var err error
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
wait:
	for g.Len() > 0 {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("rawws: drain: %d sessions left: %w", g.Len(), ctx.Err())
			break wait
		case <-tick.C:
		}
	}
	// Whatever is left did not make it in time.
	for _, s := range g.live() {
		s.Close(ErrShutdownTimeout)
	}
	return err
}

// live returns a copy of the registry.
func (g *Group) live() []*Session {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Session(nil), g.sessions...)
}

// join adds s to the registry and deals it a shard of the counters.
// During a drain the session is sent its 1001 at once, so no session
// escapes it.
func (g *Group) join(s *Session) {
	g.mu.Lock()
	g.sessions = grow.Append(g.sessions, s)
	s.regIdx = int32(len(g.sessions))
	sh := &g.shards[g.next%statShards]
	g.next++
	g.mu.Unlock()
	s.sink.Store(sh)
	g.accepted.Add(1)
	if g.draining.Load() {
		s.goAway()
	}
}

// registryKeep is the registry capacity below which it is never shrunk.
const registryKeep = 1024

// leave removes s from the registry and counts why it ended. The last
// session takes its slot; a registry left mostly empty after a peak is
// shrunk so the peak's array is not kept for good.
func (g *Group) leave(s *Session, err error) {
	g.mu.Lock()
	i := int(s.regIdx) - 1
	if i < 0 || i >= len(g.sessions) || g.sessions[i] != s {
		g.mu.Unlock()
		return
	}
	last := len(g.sessions) - 1
	moved := g.sessions[last]
	g.sessions[i] = moved
	moved.regIdx = int32(i + 1)
	g.sessions[last] = nil
	g.sessions = g.sessions[:last]
	s.regIdx = 0
	if c := cap(g.sessions); c > registryKeep && last < c/4 {
		g.sessions = append(make([]*Session, 0, 2*last), g.sessions...)
	}
	// Counted under the lock that removes it: whoever sees the session
	// gone (Len, Stats.Open) sees why it ended too.
	g.closedSession(err, s.flags.Load()&flagDrained != 0)
	g.mu.Unlock()
}

// goAway starts the session's close handshake for its group's drain. The
// Close frame is a control frame: it skips the frame cap, so a full
// outgoing queue still gets it (behind the queued frames).
func (s *Session) goAway() {
	if s.flags.Or(flagDrained)&flagDrained != 0 {
		return
	}
	s.enqueueControl(frame.OpClose, goingAway)
	if s.mode == modeChannel {
		// Channel sessions may not be reading Incoming; half-close now so
		// the peer's EOF ends them without anyone on our side answering.
		s.Terminate()
	}
}

// joinGroup puts a session that opens into its options' group.
func (s *Session) joinGroup() {
	if g := s.opts.Group; g != nil {
		g.join(s)
	}
}

// refuseDraining is the error of an upgrade whose group drains.
func refuseDraining(g *Group) error {
	if g != nil && g.draining.Load() {
		return fmt.Errorf("rawws: upgrade: %w", ErrDraining)
	}
	return nil
}
