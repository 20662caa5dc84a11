package rawws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/internal/grow"
	"github.com/rawws/rawws/poller"
)

// ErrServerClosed is returned by Server.Serve after Shutdown or Close, and
// by Wait when the server was shut down on purpose.
var ErrServerClosed = errors.New("rawws: server closed")

// Server runs WebSocket endpoints and HTTP routes on an event-loop engine:
// the native HTTP/1.1 server of package http answers the handshakes and
// requests, and each upgraded connection becomes a Session on the same
// loops. The server keeps a registry of its live sessions, so Shutdown can
// close every one of them with 1001 and wait for their close handshakes,
// and it counts what passes through it (see Metrics).
//
// Build one with NewServer, Serve or EmbeddedServer. All methods are safe
// for concurrent use.
type Server struct {
	cfg  serveConfig
	eng  poller.Engine
	own  bool // the engine is ours to shut down
	http *rhttp.Server
	app  *App

	mu       sync.Mutex
	sessions []*Session // the registry; each knows its slot (Session.regIdx)
	lns      []net.Listener
	serving  int
	done     chan struct{} // closed when Shutdown or Close finished
	doneErr  error
	closing  atomic.Bool
	shutOnce sync.Once

	watch      *watcher
	waitErr    chan error            // EmbeddedServer's result, for Wait
	restartErr atomic.Pointer[error] // why a development restart failed

	m serverCounters
}

// serveConfig is what the ServeOptions set.
type serveConfig struct {
	backend  string
	engine   poller.Engine
	settings rhttp.Settings
	session  Options
	fallback rhttp.Handler
	protos   []string
	origin   func(origin string) bool
	engCfg   poller.Config
}

// ServeOption configures NewServer and Serve.
type ServeOption func(*serveConfig)

// WithBackend runs the server on a new engine of the named poller backend
// ("netpoll", "epoll", "std"), which the server shuts down with itself.
// Default: http.DefaultBackend (epoll on Linux, std elsewhere).
func WithBackend(name string) ServeOption { return func(c *serveConfig) { c.backend = name } }

// WithEngine runs the server on e, which the caller keeps owning: Shutdown
// closes the server's connections but leaves e running.
func WithEngine(e poller.Engine) ServeOption { return func(c *serveConfig) { c.engine = e } }

// WithEngineConfig tunes the engine the server starts for itself (ignored
// with WithEngine).
func WithEngineConfig(cfg poller.Config) ServeOption {
	return func(c *serveConfig) { c.engCfg = cfg }
}

// WithHTTPSettings sets the HTTP server's limits and timeouts (idle and
// header timeouts, header and body caps). Host, Port and Engine in s are
// ignored: the listener and engine come from the Server.
func WithHTTPSettings(s rhttp.Settings) ServeOption {
	return func(c *serveConfig) { c.settings = s }
}

// WithSessionOptions sets the Options of the sessions Serve starts: limits,
// timeouts, and Options.Handler for raw frame event mode when Serve is
// given no MessageHandler.
func WithSessionOptions(o Options) ServeOption { return func(c *serveConfig) { c.session = o } }

// WithHTTPHandler answers the requests Serve receives that are not
// WebSocket upgrades (default: 426 Upgrade Required).
func WithHTTPHandler(h rhttp.Handler) ServeOption { return func(c *serveConfig) { c.fallback = h } }

// WithProtocols lists the subprotocols Serve's endpoint supports, in order
// of preference.
func WithProtocols(p ...string) ServeOption { return func(c *serveConfig) { c.protos = p } }

// WithCheckOrigin decides which Origin values Serve's endpoint accepts
// (false is answered with 403). Default: no Origin, or one whose host is
// the request's Host.
func WithCheckOrigin(f func(origin string) bool) ServeOption {
	return func(c *serveConfig) { c.origin = f }
}

// NewServer builds a server whose routes module registers (nil: no routes,
// every request is answered 404). It starts the engine but does not listen:
// call Serve with a listener, or ServeConn with connections. Shutdown or
// Close releases it (its engine, and its place in Stats). Errors wrap
// poller.ErrUnknownBackend when the backend is not registered.
func NewServer(module func(*App), opts ...ServeOption) (*Server, error) {
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	srv := &Server{
		cfg:  cfg,
		done: make(chan struct{}),
	}
	switch {
	case cfg.engine != nil:
		srv.eng = cfg.engine
	default:
		name := cfg.backend
		if name == "" {
			name = rhttp.DefaultBackend
		}
		e, err := poller.New(name, cfg.engCfg)
		if err != nil {
			return nil, fmt.Errorf("rawws: server: %w", err)
		}
		srv.eng, srv.own = e, true
	}
	srv.app = newApp(srv)
	if module != nil {
		ok := false
		defer func() {
			if !ok && srv.own {
				srv.eng.Close() // module panicked: do not leak the engine
			}
		}()
		module(srv.app)
		ok = true
	}
	set := cfg.settings
	set.Engine = srv.eng
	srv.http = rhttp.NewServer(set, srv.app.mux)
	registerServer(srv)
	return srv, nil
}

// Serve takes an existing listener into the event loop: every request on
// it is a WebSocket handshake for h (message mode; with a nil h, raw frame
// event mode with the Handler of WithSessionOptions). Requests that are
// not upgrades get 426 Upgrade Required, or go to WithHTTPHandler's
// handler. Serve blocks until ln fails or is closed; it then shuts the
// server down, sending Close 1001 to every session and waiting up to the
// sessions' CloseTimeout for their answers, and returns the listener's
// error. For a drain under your control, use NewServer and Shutdown.
func Serve(ln net.Listener, h MessageHandler, opts ...ServeOption) error {
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	if h == nil && cfg.session.Handler == nil && cfg.session.MessageHandler == nil {
		ln.Close()
		return errors.New("rawws: serve: no handler (give a MessageHandler, or Options.Handler with WithSessionOptions)")
	}
	srv, err := NewServer(func(a *App) {
		so := cfg.session
		if h != nil {
			so.MessageHandler = h
		}
		a.Endpoint("/", Endpoint{Options: so, Protocols: cfg.protos, CheckOrigin: cfg.origin, NotUpgrade: cfg.fallback})
	}, opts...)
	if err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := make(chan struct{})
	select {
	case err = <-served:
	case err = <-listenerClosed(ln, stop):
	}
	close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), srv.drainTimeout())
	defer cancel()
	srv.Shutdown(ctx)
	return err
}

// Serve accepts connections on ln and serves them until Shutdown (then it
// returns ErrServerClosed) or until ln fails (then it returns that error;
// the sessions already open keep running until Shutdown). Whether closing
// ln yourself ends Serve depends on the backend: std and epoll notice it,
// netpoll accepts on a duplicate of the socket until Shutdown; call
// Shutdown to stop a Server. The
// server takes ln over and closes it on Shutdown. Serve may be called for
// several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	return s.serveListener(ln)
}

// serveListener runs the HTTP server on ln, which is already in s.lns.
func (s *Server) serveListener(ln net.Listener) error {
	s.mu.Lock()
	s.serving++
	s.mu.Unlock()
	var err error
	if s.eng.Name() != goroutineBackend && !hasFD(ln) {
		// An event loop accepts only on a socket it can watch; a TLS
		// listener yields connections std serves (ServeConn).
		err = s.acceptEach(ln)
	} else {
		err = s.http.Serve(ln)
	}
	s.mu.Lock()
	s.serving--
	s.mu.Unlock()
	if s.closing.Load() || errors.Is(err, rhttp.ErrServerClosed) {
		return ErrServerClosed
	}
	if err == nil {
		err = net.ErrClosed
	}
	return err
}

// hasFD reports whether v exposes a descriptor (net.TCPListener and
// net.TCPConn do, tls.NewListener and *tls.Conn do not).
func hasFD(v any) bool {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return false
	}
	_, err := sc.SyscallConn()
	return err == nil
}

// acceptEach accepts from a listener no event loop can watch and hands
// every connection to ServeConn, until ln fails or the server shuts down
// (shutdown closes ln). Errors the listener reports as temporary (out of
// descriptors) are waited out, as net/http does, instead of ending Serve.
func (s *Server) acceptEach(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		// ServeConn closes what it cannot serve; the client sees that.
		s.ServeConn(c, nil)
	}
}

// Addr is the address of the first listener given to Serve (nil before).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lns) == 0 {
		return nil
	}
	return s.lns[0].Addr()
}

// Engine is the poller engine the server runs on.
func (s *Server) Engine() poller.Engine { return s.eng }

// Sessions is the number of live sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Done is closed once Shutdown or Close has finished.
func (s *Server) Done() <-chan struct{} { return s.done }

// drainTimeout bounds the automatic Shutdown of the package-level Serve:
// the close handshake timeout of its sessions plus a little slack.
func (s *Server) drainTimeout() time.Duration {
	d := s.cfg.session.withDefaults().CloseTimeout
	if d < 0 {
		d = DefaultCloseTimeout
	}
	return d + time.Second
}

// register adds s to the registry: a slot in a slice, which the session
// remembers, so an idle session costs the server one pointer and no
// allocation of its own. During a shutdown the session is closed at once
// with 1001, so no session escapes the drain.
func (srv *Server) register(s *Session) {
	srv.mu.Lock()
	srv.sessions = grow.Append(srv.sessions, s)
	s.regIdx = int32(len(srv.sessions))
	sh := srv.m.shardLocked()
	srv.mu.Unlock()
	s.sink.Store(sh)
	srv.m.opened.Add(1)
	if srv.closing.Load() {
		srv.goAway(s)
	}
}

// registryKeep is the registry capacity below which it is never shrunk.
const registryKeep = 1024

// unregister removes s from the registry and counts why it ended. The last
// session takes its slot; a registry left mostly empty after a peak is
// shrunk so the peak's array is not kept for good.
func (srv *Server) unregister(s *Session, err error) {
	srv.mu.Lock()
	i := int(s.regIdx) - 1
	if i < 0 || i >= len(srv.sessions) || srv.sessions[i] != s {
		srv.mu.Unlock()
		return
	}
	last := len(srv.sessions) - 1
	moved := srv.sessions[last]
	srv.sessions[i] = moved
	moved.regIdx = int32(i + 1)
	srv.sessions[last] = nil
	srv.sessions = srv.sessions[:last]
	s.regIdx = 0
	if c := cap(srv.sessions); c > registryKeep && last < c/4 {
		srv.sessions = append(make([]*Session, 0, 2*last), srv.sessions...)
	}
	// Counted under the lock that removes it: whoever sees the session
	// gone (Sessions, Metrics.Open) sees why it ended too.
	srv.m.closedSession(err, s.flags.Load()&flagDrained != 0)
	srv.mu.Unlock()
}

// liveSessions returns a copy of the registry.
func (srv *Server) liveSessions() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]*Session(nil), srv.sessions...)
}

// complete attaches s to c, which the HTTP server handed to s while it
// was pending (flagPending): the event handler's OnOpen runs here, before
// any frame; bytes that arrived meanwhile are offered again, and a close
// that came meanwhile ends the session now, so it always sees OnClose.
func (s *Session) complete(c poller.Conn) {
	s.attach(c)
	s.mu.Lock()
	s.flags.And(^flagPending)
	held := s.flags.Load()&flagHeldClose != 0
	var err error
	if held {
		err = s.cold.Load().heldErr
	}
	s.mu.Unlock()
	if held {
		s.onClose(c, err)
		return
	}
	c.SetHandler(s.pollHandler())
}

// listenerPoll is how often the package-level Serve checks whether its
// caller closed the listener.
const listenerPoll = 50 * time.Millisecond

// listenerClosed reports, on the returned channel, net.ErrClosed once ln
// is closed by its owner. Some backends serve a duplicate of the socket
// and never notice; the package-level Serve promises to return then. It
// stops when stop is closed.
func listenerClosed(ln net.Listener, stop <-chan struct{}) <-chan error {
	out := make(chan error, 1)
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return out // Serve's own return is the only signal
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return out
	}
	go func() {
		t := time.NewTicker(listenerPoll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := rc.Control(func(uintptr) {}); err != nil {
					out <- fmt.Errorf("rawws: serve: listener: %w", net.ErrClosed)
					return
				}
			}
		}
	}()
	return out
}
