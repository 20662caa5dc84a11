package server

import (
	"expvar"
	"sync"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// Metrics is a snapshot of what passed through a Server (Server.Metrics)
// or every Server of the process (Stats): the HTTP-level counts of its
// WebSocket endpoints, and the session-level counts of its Group.
// Counters only grow; Open and QueueHighWater are levels.
type Metrics struct {
	// Requests is the number of HTTP requests routed to WebSocket
	// endpoints (upgrades and the rest).
	Requests uint64
	// HandshakeFailures counts refused handshakes (bad request, origin,
	// version, or the server shutting down).
	HandshakeFailures uint64
	// GroupStats are the counts of the server's sessions: Accepted is
	// the number of sessions opened, Open the live ones.
	rawws.GroupStats
}

// Metrics returns a snapshot of the server's counters, live sessions
// included. It never walks the sessions: their traffic is counted in the
// group's shards as it happens.
func (s *Server) Metrics() Metrics {
	return Metrics{
		Requests:          s.requests.Load(),
		HandshakeFailures: s.handshakeFailed.Load(),
		GroupStats:        s.group.Stats(),
	}
}

// merge adds o to m (levels: Open adds up, QueueHighWater is the max).
func (m *Metrics) merge(o Metrics) {
	m.Requests += o.Requests
	m.HandshakeFailures += o.HandshakeFailures
	m.Accepted += o.Accepted
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
// shut down included. It is what expvar publishes as ExpvarName.
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
