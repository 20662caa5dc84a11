package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rawws/rawws"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/internal/netfd"
	"github.com/rawws/rawws/poller"
)

// ErrServerClosed is returned by Server.Serve and ServeConn after Shutdown
// or Close, and by Wait when the server was shut down on purpose. It is
// the HTTP layer's http.ErrServerClosed itself, so one
// errors.Is check covers both packages.
var ErrServerClosed = rhttp.ErrServerClosed

// Server runs WebSocket endpoints and HTTP routes on an event-loop engine:
// the native HTTP/1.1 server of package http answers the handshakes and
// requests, and each upgraded connection becomes a rawws.Session on the
// same loops. Its sessions are the members of one rawws.Group (Group), so
// Shutdown can close every one of them with 1001 and wait for their close
// handshakes, and it counts what passes through it (see Metrics).
//
// Build one with New, Serve or Embedded. All methods are safe for
// concurrent use.
type Server struct {
	eng  poller.Engine
	own  bool // the engine is ours to shut down
	http *rhttp.Server
	app  *App
	// group holds the server's sessions; the server is always used by
	// pointer, so the group is never copied.
	group rawws.Group

	mu       sync.Mutex
	lns      []net.Listener
	done     chan struct{} // closed when Shutdown or Close finished
	doneErr  error
	closing  atomic.Bool
	shutOnce sync.Once

	watch      *watcher
	waitErr    chan error            // Embedded's result, for Wait
	restartErr atomic.Pointer[error] // why a development restart failed

	requests, handshakeFailed atomic.Uint64
}

// Config configures New, Serve and (embedded in EmbeddedConfig) Embedded.
// The zero value runs the server on a new engine of http.DefaultBackend
// (epoll on Linux, std elsewhere) with the HTTP server's default limits.
// Fields that contradict each other make New fail instead of one of them
// being ignored.
type Config struct {
	// Backend names the poller backend of the engine the server starts
	// and shuts down with itself ("epoll", "std", or "netpoll" once the
	// program imports poller/netpoll); "" is http.DefaultBackend.
	Backend string
	// Engine, when set, runs the server on an engine the caller keeps
	// owning: Shutdown closes the server's connections but leaves it
	// running. Backend and EngineConfig must then be zero.
	Engine poller.Engine
	// EngineConfig tunes the engine the server starts (loops, buffer caps,
	// tick).
	EngineConfig poller.Config
	// HTTP sets the HTTP server's limits and timeouts (idle and header
	// timeouts, header and body caps). Its Host, Port, Engine and Backend
	// must be zero: the listener and the engine come from the Server.
	HTTP rhttp.Settings
}

// check refuses a Config whose fields contradict each other.
func (c *Config) check() error {
	switch {
	case c.Engine != nil && (c.Backend != "" || c.EngineConfig != (poller.Config{})):
		return fmt.Errorf("rawws: server: Config.Engine is set: Backend and EngineConfig would be ignored")
	case c.HTTP.Host != "" || c.HTTP.Port != 0:
		return fmt.Errorf("rawws: server: Config.HTTP.Host and Port are not used: the listener comes from Serve (or Embedded's Host and Port)")
	case c.HTTP.Engine != nil || c.HTTP.Backend != "":
		return fmt.Errorf("rawws: server: Config.HTTP.Engine and Backend are not used: set Config.Engine or Config.Backend")
	}
	return nil
}

// New builds a server whose routes module registers (nil: no routes,
// every request is answered 404). It starts the engine but does not listen:
// call Serve with a listener, or ServeConn with connections. Shutdown or
// Close releases it (its engine, and its place in Stats). Errors wrap
// poller.ErrUnknownBackend when the backend is not registered.
func New(module func(*App), cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	srv := &Server{done: make(chan struct{})}
	if cfg.Engine != nil {
		srv.eng = cfg.Engine
	} else {
		name := cfg.Backend
		if name == "" {
			name = rhttp.DefaultBackend
		}
		e, err := poller.New(name, cfg.EngineConfig)
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
	set := cfg.HTTP
	set.Engine = srv.eng
	srv.http = rhttp.NewServer(set, srv.app.mux)
	registerServer(srv)
	return srv, nil
}

// Serve takes an existing listener into the event loop: every request on
// it, whatever its path, goes to the WebSocket endpoint ep (requests that
// are not upgrades get 426 Upgrade Required, or ep.NotUpgrade). Serve
// blocks until ln fails or is closed; it then shuts the server down,
// sending Close 1001 to every session and waiting up to the sessions'
// CloseTimeout for their answers, and returns the listener's error. For a
// drain under your control, use New and Shutdown. An endpoint without a
// handler fails with an error wrapping http.ErrBadRoute, as
// App.RegisterEndpoint does; ln is closed on every error.
func Serve(ln net.Listener, ep Endpoint, cfg Config) error {
	srv, err := New(nil, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	if err := srv.app.RegisterEndpoint("/", ep); err != nil {
		ln.Close()
		srv.Close()
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
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout(ep.Options))
	defer cancel()
	srv.Shutdown(ctx)
	return err
}

// Serve accepts connections on ln and serves them until Shutdown (then it
// returns ErrServerClosed) or until ln fails (then it returns that error;
// the sessions already open keep running until Shutdown). Whether closing
// ln yourself ends Serve depends on the backend: std and epoll notice it,
// netpoll accepts on a duplicate of the socket until Shutdown; call
// Shutdown to stop a Server. The server takes ln over and closes it on
// Shutdown. Serve may be called for several listeners at once. A listener
// no event loop can watch (tls.NewListener, any net.Listener without a
// descriptor) is accepted from on a goroutine, each connection served as
// by ServeConn.
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

// goroutineBackend serves the connections no event loop can adopt.
const goroutineBackend = "std"

// serveListener runs the HTTP server on ln, which is already in s.lns.
func (s *Server) serveListener(ln net.Listener) error {
	var err error
	if s.eng.Name() != goroutineBackend && !netfd.Has(ln) {
		// An event loop accepts only on a socket it can watch; a TLS
		// listener yields connections std serves (ServeConn).
		err = s.acceptEach(ln)
	} else {
		err = s.http.Serve(ln)
	}
	if s.closing.Load() || errors.Is(err, rhttp.ErrServerClosed) {
		return ErrServerClosed
	}
	if err == nil {
		err = net.ErrClosed
	}
	return err
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

// Group is the group of the server's live sessions: Len counts them,
// Stats counts their traffic, and Shutdown drains them. A session upgraded
// elsewhere (rawws.UpgradeHTTP in a net/http handler) joins it through
// Options.Group and is then drained and counted with the server's own.
func (s *Server) Group() *rawws.Group { return &s.group }

// Done is closed once Shutdown or Close has finished.
func (s *Server) Done() <-chan struct{} { return s.done }

// drainTimeout bounds the automatic Shutdown of the package-level Serve:
// the close handshake timeout of its sessions plus a little slack.
func drainTimeout(o rawws.Options) time.Duration {
	d := o.CloseTimeout
	if d <= 0 {
		d = rawws.DefaultCloseTimeout
	}
	return d + time.Second
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
