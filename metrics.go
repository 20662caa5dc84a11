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
// path (per session and per handshake), read by Metrics.
type serverCounters struct {
	requests, upgraded, handshakeFailed atomic.Uint64
	opened                              atomic.Uint64
	closed                              [closeKinds]atomic.Uint64
	protocol                            [closeCodeSlots + 1]atomic.Uint64 // last slot: other codes
	// Totals of sessions already gone; live ones are summed on read.
	framesIn, framesOut, bytesIn, bytesOut atomic.Uint64
	drops                                  atomic.Uint64
	queueHigh                              atomic.Int64
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

// closedSession folds an ended session into the counters.
func (m *serverCounters) closedSession(s *Session, err error, drained bool) {
	kind, code := classifyClose(err, drained)
	m.closed[kind].Add(1)
	if kind == closeProtocol {
		i := int(code) - 1000
		if i < 0 || i >= closeCodeSlots {
			i = closeCodeSlots
		}
		m.protocol[i].Add(1)
	}
	st := s.stats.snapshot()
	m.add(&st)
}

// add folds one session's counters into the totals.
func (m *serverCounters) add(st *sessionCounts) {
	m.framesIn.Add(st.framesIn)
	m.framesOut.Add(st.framesOut)
	m.bytesIn.Add(st.bytesIn)
	m.bytesOut.Add(st.bytesOut)
	m.drops.Add(st.drops)
	for {
		cur := m.queueHigh.Load()
		if st.queueHigh <= cur || m.queueHigh.CompareAndSwap(cur, st.queueHigh) {
			break
		}
	}
}

// sessionStats are one session's counters. Only the session's reader (the
// loop) and its writer (whoever holds the writer role) add to them, so the
// atomic adds never contend; Metrics reads them while the session runs.
type sessionStats struct {
	framesIn, framesOut atomic.Uint64
	bytesIn, bytesOut   atomic.Uint64
	drops               atomic.Uint64
	queueHigh           atomic.Int64
}

// sessionCounts is a plain copy of sessionStats.
type sessionCounts struct {
	framesIn, framesOut, bytesIn, bytesOut, drops uint64
	queueHigh                                     int64
}

func (st *sessionStats) snapshot() sessionCounts {
	return sessionCounts{
		framesIn: st.framesIn.Load(), framesOut: st.framesOut.Load(),
		bytesIn: st.bytesIn.Load(), bytesOut: st.bytesOut.Load(),
		drops: st.drops.Load(), queueHigh: st.queueHigh.Load(),
	}
}

// queued records the outgoing queue's length after a push; mu is held,
// so only a new high needs a store.
func (st *sessionStats) queued(n int) {
	if int64(n) > st.queueHigh.Load() {
		st.queueHigh.Store(int64(n))
	}
}

// Metrics returns a snapshot of the server's counters, live sessions
// included. It takes the registry's lock briefly; the sessions' hot paths
// never do.
func (s *Server) Metrics() Metrics {
	var live serverCounters
	s.mu.Lock()
	open := int64(len(s.sessions))
	for sess := range s.sessions {
		st := sess.stats.snapshot()
		live.add(&st)
	}
	s.mu.Unlock()
	m := s.m.export()
	lm := live.export()
	m.Open = open
	m.FramesIn += lm.FramesIn
	m.FramesOut += lm.FramesOut
	m.BytesIn += lm.BytesIn
	m.BytesOut += lm.BytesOut
	m.Drops += lm.Drops
	m.QueueHighWater = max(m.QueueHighWater, lm.QueueHighWater)
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
		FramesIn: m.framesIn.Load(), FramesOut: m.framesOut.Load(),
		BytesIn: m.bytesIn.Load(), BytesOut: m.bytesOut.Load(),
		Drops:          m.drops.Load(),
		QueueHighWater: m.queueHigh.Load(),
		ProtocolErrors: map[frame.CloseCode]uint64{},
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
