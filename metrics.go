package rawws

import (
	"errors"
	"expvar"
	"sync"
	"sync/atomic"

	"github.com/rawws/rawws/frame"
)

// Metrics is a snapshot of what passed through a Server (Server.Metrics)
// or every Server of the process (Stats). Counters only grow; Open and
// QueueHighWater are levels.
type Metrics struct {
	// Requests is the number of HTTP requests routed to WebSocket
	// endpoints (upgrades and the rest).
	Requests uint64
	// Accepted is the number of handshakes accepted: sessions opened.
	Accepted uint64
	// HandshakeFailures counts refused handshakes (bad request, origin,
	// version, or the server shutting down).
	HandshakeFailures uint64
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
	// clean EOF) outside a shutdown.
	Normal uint64
	// Shutdown: ended by the server's drain (the peer answered its 1001).
	Shutdown uint64
	// PeerError: the peer closed with an error code.
	PeerError uint64
	// Protocol: the peer broke the protocol; see Metrics.ProtocolErrors.
	Protocol uint64
	// Timeout: ping timeout, close-handshake timeout, or the shutdown
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

// serverCounters are a Server's counters: atomic adds off the per-frame
// path (per session and per handshake) and the traffic shards, read by
// Metrics.
type serverCounters struct {
	requests, upgraded, handshakeFailed atomic.Uint64
	opened                              atomic.Uint64
	closed                              [closeKinds]atomic.Uint64
	protocol                            [closeCodeSlots + 1]atomic.Uint64 // last slot: other codes
	// shards hold the traffic of every session the server registered,
	// live or gone, so Metrics sums statShards lines instead of walking
	// the sessions, and an idle session carries one pointer instead of
	// its own counters. next (guarded by Server.mu) deals them out.
	shards [statShards]statShard
	next   uint32
}

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

// shardLocked deals the next shard to a session being registered.
// Server.mu is held.
func (m *serverCounters) shardLocked() *statShard {
	sh := &m.shards[m.next%statShards]
	m.next++
	return sh
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

// closeKind indexes serverCounters.closed.
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
func (m *serverCounters) closedSession(err error, drained bool) {
	kind, code := classifyClose(err, drained)
	m.closed[kind].Add(1)
	if kind == closeProtocol {
		i := int(code) - 1000
		if i < 0 || i >= closeCodeSlots {
			i = closeCodeSlots
		}
		m.protocol[i].Add(1)
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

// Metrics returns a snapshot of the server's counters, live sessions
// included. It never walks the sessions: their traffic is counted in the
// server's shards as it happens.
func (s *Server) Metrics() Metrics {
	s.mu.Lock()
	open := int64(len(s.sessions))
	s.mu.Unlock()
	m := s.m.export()
	m.Open = open
	return m
}

// export copies the counters into a Metrics.
func (m *serverCounters) export() Metrics {
	out := Metrics{
		Requests:          m.requests.Load(),
		Accepted:          m.upgraded.Load(),
		HandshakeFailures: m.handshakeFailed.Load(),
		Closed: CloseCounts{
			Normal:    m.closed[closeNormal].Load(),
			Shutdown:  m.closed[closeShutdown].Load(),
			PeerError: m.closed[closePeerError].Load(),
			Protocol:  m.closed[closeProtocol].Load(),
			Timeout:   m.closed[closeTimeout].Load(),
			QueueFull: m.closed[closeQueueFull].Load(),
			Error:     m.closed[closeError].Load(),
		},
		ProtocolErrors: map[frame.CloseCode]uint64{},
	}
	for i := range m.shards {
		sh := &m.shards[i]
		out.FramesIn += sh.framesIn.Load()
		out.FramesOut += sh.framesOut.Load()
		out.BytesIn += sh.bytesIn.Load()
		out.BytesOut += sh.bytesOut.Load()
		out.Drops += sh.drops.Load()
		out.QueueHighWater = max(out.QueueHighWater, sh.queueHigh.Load())
	}
	for i := range m.protocol {
		if n := m.protocol[i].Load(); n > 0 {
			code := frame.CloseCode(1000 + i)
			if i == closeCodeSlots {
				code = 0 // a code outside 1000-1015
			}
			out.ProtocolErrors[code] += n
		}
	}
	return out
}

// merge adds o to m (levels: Open adds up, QueueHighWater is the max).
func (m *Metrics) merge(o Metrics) {
	m.Requests += o.Requests
	m.Accepted += o.Accepted
	m.HandshakeFailures += o.HandshakeFailures
	m.Open += o.Open
	m.Closed.Normal += o.Closed.Normal
	m.Closed.Shutdown += o.Closed.Shutdown
	m.Closed.PeerError += o.Closed.PeerError
	m.Closed.Protocol += o.Closed.Protocol
	m.Closed.Timeout += o.Closed.Timeout
	m.Closed.QueueFull += o.Closed.QueueFull
	m.Closed.Error += o.Closed.Error
	m.FramesIn += o.FramesIn
	m.FramesOut += o.FramesOut
	m.BytesIn += o.BytesIn
	m.BytesOut += o.BytesOut
	m.Drops += o.Drops
	m.QueueHighWater = max(m.QueueHighWater, o.QueueHighWater)
	if m.ProtocolErrors == nil {
		m.ProtocolErrors = map[frame.CloseCode]uint64{}
	}
	for k, v := range o.ProtocolErrors {
		m.ProtocolErrors[k] += v
	}
}

var (
	serversMu  sync.Mutex
	allServers = map[*Server]struct{}{}
	retired    Metrics // servers already shut down
	publish    sync.Once
)

// ExpvarName is the name under which Stats is published with expvar (so it
// appears on /debug/vars wherever expvar.Handler is served).
const ExpvarName = "rawws"

// registerServer adds srv to the process-wide Stats and publishes them
// with expvar the first time.
func registerServer(srv *Server) {
	serversMu.Lock()
	allServers[srv] = struct{}{}
	serversMu.Unlock()
	publish.Do(func() {
		if expvar.Get(ExpvarName) == nil {
			expvar.Publish(ExpvarName, expvar.Func(func() any { return Stats() }))
		}
	})
}

// retireServer folds a shut-down server's final counters into Stats.
func retireServer(srv *Server) {
	m := srv.Metrics()
	serversMu.Lock()
	defer serversMu.Unlock()
	if _, ok := allServers[srv]; !ok {
		return
	}
	delete(allServers, srv)
	m.Open = 0
	retired.merge(m)
}

// Stats sums the Metrics of every Server of the process, those already
// shut down included. It is what expvar publishes as "rawws".
func Stats() Metrics {
	serversMu.Lock()
	live := make([]*Server, 0, len(allServers))
	for srv := range allServers {
		live = append(live, srv)
	}
	var out Metrics
	out.merge(retired)
	serversMu.Unlock()
	for _, srv := range live {
		out.merge(srv.Metrics())
	}
	return out
}
