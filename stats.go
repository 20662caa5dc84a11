package rawws

import (
	"errors"
	"sync/atomic"

	"github.com/rawws/rawws/frame"
)

// GroupStats is a snapshot of what passed through the sessions of a Group
// (Group.Stats). Counters only grow; Open and QueueHighWater are levels.
type GroupStats struct {
	// Accepted is the number of sessions that joined the group.
	Accepted uint64
	// Open is the number of live sessions.
	Open int64
	// Closed counts ended sessions by why they ended.
	Closed CloseCounts
	// FramesIn and BytesIn count frames parsed and bytes read (headers
	// included) by the sessions; FramesOut and BytesOut frames and bytes
	// handed to the connections.
	FramesIn, FramesOut uint64
	BytesIn, BytesOut   uint64
	// QueueHighWater is the largest outgoing queue, in frames, any
	// session reached.
	QueueHighWater int64
	// Drops counts frames that never reached the wire: refused with
	// ErrQueueFull, or still queued when a session failed.
	Drops uint64
	// ProtocolErrors counts sessions failed by a protocol error, by the
	// close code sent (1002, 1007, 1009, ...).
	ProtocolErrors map[frame.CloseCode]uint64
}

// CloseCounts splits ended sessions by cause.
type CloseCounts struct {
	// Normal: a clean close (1000, 1001 or no status from the peer, or a
	// clean EOF) outside a drain.
	Normal uint64
	// Shutdown: ended by the group's drain (the peer answered its 1001).
	Shutdown uint64
	// PeerError: the peer closed with an error code.
	PeerError uint64
	// Protocol: the peer broke the protocol; see GroupStats.ProtocolErrors.
	Protocol uint64
	// Timeout: ping timeout, close-handshake timeout, or the drain's
	// deadline.
	Timeout uint64
	// QueueFull: the peer did not read and the outgoing queue overflowed.
	QueueFull uint64
	// Error: the connection failed (reset, I/O error) or the application
	// closed the session with a cause.
	Error uint64
}

// closeCodeSlots covers the codes 1000-1015 that protocol errors use.
const closeCodeSlots = 16

// statShards spreads the sessions' counting over this many slots, so two
// loops rarely add to the same one at the same time.
const statShards = 32

// statShard is one slot of traffic counters shared by the sessions dealt
// to it. Adds come once per read callback and once per written batch, not
// per byte. A slot spans 128 bytes: with 64, neighbours shared a line (the
// array is not line-aligned) or a prefetched pair of lines, and two loops
// counting on neighbouring slots ran at a quarter of the speed
// (BenchmarkSessionStatsParallel).
type statShard struct {
	framesIn, framesOut atomic.Uint64
	bytesIn, bytesOut   atomic.Uint64
	drops               atomic.Uint64
	queueHigh           atomic.Int64
	_                   [128 - 6*8]byte
}

// queued records an outgoing queue's length after a push; only a new high
// stores.
func (sh *statShard) queued(n int) {
	if int64(n) > sh.queueHigh.Load() {
		for {
			cur := sh.queueHigh.Load()
			if int64(n) <= cur || sh.queueHigh.CompareAndSwap(cur, int64(n)) {
				return
			}
		}
	}
}

// closeKind indexes Group.closed.
type closeKind uint8

const (
	closeNormal closeKind = iota
	closeShutdown
	closePeerError
	closeProtocol
	closeTimeout
	closeQueueFull
	closeError
	closeKinds
)

// classifyClose says why a session ended and, for protocol errors, the
// close code it sent.
func classifyClose(err error, drained bool) (closeKind, frame.CloseCode) {
	if err == nil {
		// The common end, decided before errors.As's targets are made.
		if drained {
			return closeShutdown, 0
		}
		return closeNormal, 0
	}
	var ce *CloseError
	var pe *frame.ProtocolError
	switch {
	case errors.Is(err, ErrShutdownTimeout), errors.Is(err, ErrPingTimeout), errors.Is(err, ErrCloseTimeout):
		return closeTimeout, 0
	case IsNormalClosure(err):
		if drained {
			return closeShutdown, 0
		}
		return closeNormal, 0
	case errors.As(err, &ce):
		return closePeerError, 0
	case errors.Is(err, ErrFrameTooBig), errors.Is(err, ErrMessageTooBig):
		return closeProtocol, frame.CloseTooBig
	case errors.As(err, &pe):
		return closeProtocol, pe.Code
	case errors.Is(err, ErrQueueFull):
		return closeQueueFull, 0
	}
	return closeError, 0
}

// closedSession counts an ended session by why it ended. Its traffic is
// in the shards already.
func (g *Group) closedSession(err error, drained bool) {
	kind, code := classifyClose(err, drained)
	g.closed[kind].Add(1)
	if kind == closeProtocol {
		i := int(code) - 1000
		if i < 0 || i >= closeCodeSlots {
			i = closeCodeSlots
		}
		g.protocol[i].Add(1)
	}
}

// countIn adds one read callback's traffic to the session's shard.
func (s *Session) countIn(frames, bytes int) {
	if sh := s.sink.Load(); sh != nil {
		if frames > 0 {
			sh.framesIn.Add(uint64(frames))
		}
		sh.bytesIn.Add(uint64(bytes))
	}
}

// countOut adds one written batch to the session's shard.
func (s *Session) countOut(frames, bytes int) {
	if sh := s.sink.Load(); sh != nil {
		sh.framesOut.Add(uint64(frames))
		sh.bytesOut.Add(uint64(bytes))
	}
}

// Stats returns a snapshot of the group's counters, live sessions
// included. It never walks the sessions: their traffic is counted in the
// group's shards as it happens.
func (g *Group) Stats() GroupStats {
	g.mu.Lock()
	open := int64(len(g.sessions))
	g.mu.Unlock()
	out := GroupStats{
		Accepted: g.accepted.Load(),
		Open:     open,
		Closed: CloseCounts{
			Normal:    g.closed[closeNormal].Load(),
			Shutdown:  g.closed[closeShutdown].Load(),
			PeerError: g.closed[closePeerError].Load(),
			Protocol:  g.closed[closeProtocol].Load(),
			Timeout:   g.closed[closeTimeout].Load(),
			QueueFull: g.closed[closeQueueFull].Load(),
			Error:     g.closed[closeError].Load(),
		},
		ProtocolErrors: map[frame.CloseCode]uint64{},
	}
	for i := range g.shards {
		sh := &g.shards[i]
		out.FramesIn += sh.framesIn.Load()
		out.FramesOut += sh.framesOut.Load()
		out.BytesIn += sh.bytesIn.Load()
		out.BytesOut += sh.bytesOut.Load()
		out.Drops += sh.drops.Load()
		out.QueueHighWater = max(out.QueueHighWater, sh.queueHigh.Load())
	}
	for i := range g.protocol {
		if n := g.protocol[i].Load(); n > 0 {
			code := frame.CloseCode(1000 + i)
			if i == closeCodeSlots {
				code = 0 // a code outside 1000-1015
			}
			out.ProtocolErrors[code] += n
		}
	}
	return out
}
