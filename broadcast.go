package rawws

import (
	"context"

	"github.com/rawws/rawws/frame"
)

// BroadcastResult counts what became of one frame sent to many sessions;
// the four counts add up to the number of sessions.
type BroadcastResult struct {
	// Sent: queued on the session (written already, or soon by its writer).
	Sent int
	// Dropped: refused because the session's outgoing queue was full; the
	// session goes on and its drop counter (Server.Metrics) grew.
	Dropped int
	// Closed: refused because the queue was full under a close policy; the
	// session was closed with 1008 (policy violation) by this call.
	Closed int
	// Skipped: the session was already closing or gone.
	Skipped int
}

// add accumulates r2 into r.
func (r *BroadcastResult) add(r2 BroadcastResult) {
	r.Sent += r2.Sent
	r.Dropped += r2.Dropped
	r.Closed += r2.Closed
	r.Skipped += r2.Skipped
}

// Broadcast queues the prepared frame pf on every session without copying
// it and without ever waiting for a slow one: whatever the session's mode,
// a session whose outgoing queue is at its cap (Options.OutgoingFrames or
// Options.OutgoingBytes) gets its Options.QueueFull policy: the frame is
// dropped for it (counted in Dropped and in the session's drop counter), or
// under QueueFullClose the session is closed with 1008 (counted in Closed).
// So one stalled peer costs the others nothing; it only loses frames.
//
// Frames reach each session in the order the calls queued them; two
// concurrent Broadcast calls on overlapping sessions may be queued in
// different orders on different sessions (Hub.Publish orders a topic).
// Sessions whose writer is idle are written on the caller's goroutine
// before Broadcast returns, one Writev each, outside any lock.
//
// pf stays the caller's (Release it when done; see PreparedFrame). The
// error is ctx.Err() when ctx had ended before anything was queued, or
// ErrPreparedReleased; otherwise nil, with the counts in the result.
func Broadcast(ctx context.Context, sessions []*Session, pf *PreparedFrame) (BroadcastResult, error) {
	if err := ctx.Err(); err != nil {
		return BroadcastResult{Skipped: len(sessions)}, err
	}
	if !pf.live() {
		return BroadcastResult{Skipped: len(sessions)}, ErrPreparedReleased
	}
	sc := getScratch()
	var r BroadcastResult
	for _, s := range sessions {
		r.add(sc.queue(s, pf, slowFromSession))
	}
	sc.finish()
	return r, nil
}

// BroadcastFrame is Broadcast of f, encoded once (f.Payload is copied, so
// the caller keeps it) in a pooled buffer that is given back after the last
// session has written it.
func BroadcastFrame(ctx context.Context, sessions []*Session, f frame.Frame) (BroadcastResult, error) {
	if err := ctx.Err(); err != nil {
		return BroadcastResult{Skipped: len(sessions)}, err
	}
	pf := getPrepared(f)
	r, err := Broadcast(ctx, sessions, pf)
	pf.release()
	return r, err
}

// fanout is a broadcast's scratch: the sessions whose writer it claimed
// and the ones it must close, handled once no lock is held.
type fanout struct {
	claimed []*Session
	closing []*Session
	// free keeps the queue states the claimed writers gave back, for the
	// next sessions this scratch queues on: a publish to many idle
	// sessions then passes a handful of them around instead of going to
	// the pool once per session.
	free []*writeState
}

// fanoutPool is a statePool: a fanout carries queue states (free) that
// must come back with it.
var fanoutPool statePool[fanout]

func getScratch() *fanout { return fanoutPool.get() }

// queue offers pf to s under policy and notes the follow-up work. It never
// writes or blocks, so the caller may hold a lock.
func (sc *fanout) queue(s *Session, pf *PreparedFrame, policy slowPolicy) BroadcastResult {
	claimed, st := s.queuePrepared(context.Background(), pf, policy, &sc.free)
	switch st {
	case queuedOK:
		if claimed {
			sc.claimed = append(sc.claimed, s)
		}
		return BroadcastResult{Sent: 1}
	case queuedDropped:
		return BroadcastResult{Dropped: 1}
	case queuedInterleaved:
		// The subscriber is in the middle of its own fragmented message:
		// a frame now would corrupt it, so it misses this one, counted.
		s.addDrops(1)
		return BroadcastResult{Dropped: 1}
	case queuedCloseSlow:
		sc.closing = append(sc.closing, s)
		return BroadcastResult{Closed: 1}
	}
	return BroadcastResult{Skipped: 1}
}

// finish runs the writers claimed (each writes its queue with one Writev),
// closes the slow sessions, and returns sc to its pool. No lock may be
// held: writing and closing call into the connections.
func (sc *fanout) finish() {
	for i, s := range sc.claimed {
		if w := s.writeLoopFree(false); w != nil {
			if len(sc.free) < fanoutFreeKeep {
				w.reset()
				sc.free = append(sc.free, w)
			} else {
				putWriteState(w)
			}
		}
		sc.claimed[i] = nil
	}
	for i, s := range sc.closing {
		s.fail(frame.ClosePolicyViolation, "outgoing queue full", ErrQueueFull)
		sc.closing[i] = nil
	}
	sc.claimed, sc.closing = sc.claimed[:0], sc.closing[:0]
	if cap(sc.claimed) > fanoutKeep {
		sc.claimed = nil
	}
	if cap(sc.closing) > fanoutKeep {
		sc.closing = nil
	}
	fanoutPool.put(sc)
}

// fanoutKeep bounds the scratch a pooled fanout keeps between broadcasts.
const fanoutKeep = 1 << 16

// fanoutFreeKeep bounds the queue states a fanout keeps.
const fanoutFreeKeep = 1 << 10

// Dropped is the session's drop counter: outgoing frames refused at a full
// queue (Send, SendPrepared, Broadcast, Hub) plus frames discarded from its
// queue when it closed. Server.Metrics sums the same counter.
func (s *Session) Dropped() uint64 {
	if c := s.cold.Load(); c != nil {
		return c.drops.Load()
	}
	return 0
}
