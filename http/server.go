package http

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws/internal/wheel"
	"github.com/rawws/rawws/poller"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("http: server closed")

// ErrBackendNotLinked: Settings.Backend names a poller backend whose
// package the program does not import. The error says which import
// would link it.
var ErrBackendNotLinked = errors.New("http: poller backend not linked in")

// Defaults for the Settings fields left zero. Host and IdleTimeout are
// the seed's (Ktor's HttpServerSettings); its port 8080 is not: Port 0 is
// a free port, as in net.Listen.
const (
	DefaultHost                 = "0.0.0.0"
	DefaultIdleTimeout          = 45 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultWriteTimeout         = 60 * time.Second
	DefaultMaxHeaderBytes       = 16 << 10
	DefaultMaxHeaders           = 100
	DefaultMaxURILength         = 8 << 10
	DefaultMaxBodyBytes         = 1 << 20
	DefaultMaxConcurrentPerConn = 4
)

// Settings configures a Server. The zero value gives the defaults above.
type Settings struct {
	// Host and Port to listen on in ListenAndServe (default Host
	// 0.0.0.0). Port 0 lets the OS pick a free port, as net.Listen does;
	// Addr tells which once serving.
	Host string
	Port int
	// IdleTimeout closes a connection that has had no request in flight
	// and no byte received for this long (default 45 s). It is a real
	// close on a timing wheel of 10 ms resolution, re-armed on activity.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds the time from a request's first byte to the
	// end of its head; past it the server answers 408 and closes
	// (default 10 s).
	ReadHeaderTimeout time.Duration
	// WriteTimeout closes a connection whose client reads nothing for this
	// long while the connection's output is at the engine's cap (default
	// 60 s); its handlers' writes fail with ErrWriteTimeout. It times
	// progress, not the response: a client that keeps reading, however
	// slowly, gets the whole body.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a request head, request line included
	// (default 16 KiB; 431 past it).
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields (default 100; 431).
	MaxHeaders int
	// MaxURILength bounds the request-target (default 8 KiB; 414).
	MaxURILength int
	// MaxBodyBytes bounds a request body, which is read whole before the
	// handler runs (default 1 MiB; 413 and close past it).
	MaxBodyBytes int64
	// MaxConcurrentPerConn bounds the handlers of one connection running
	// at once on goroutines (default 4); past it the connection is not
	// read until one finishes.
	MaxConcurrentPerConn int
	// InlineHandlers runs every handler on the connection's event loop, as
	// if wrapped in NonBlocking. Only for handlers that never block.
	InlineHandlers bool
	// Engine is the poller the server runs on. nil: the server starts its
	// own, of Backend, and closes it on Shutdown.
	Engine poller.Engine
	// Backend names the backend of the server's own engine (when Engine
	// is nil): "" is DefaultBackend ("epoll" on Linux, which this package
	// links, "std" elsewhere). Any other backend must be linked by
	// importing its package for its side effect, e.g.
	//	import _ "github.com/rawws/rawws/poller/netpoll"
	// otherwise Serve fails with ErrBackendNotLinked. With Engine set,
	// Settings() reports Engine.Name() here.
	Backend string
}

func (s Settings) withDefaults() Settings {
	if s.Host == "" {
		s.Host = DefaultHost
	}
	if s.Engine != nil {
		s.Backend = s.Engine.Name()
	} else if s.Backend == "" {
		s.Backend = DefaultBackend
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.ReadHeaderTimeout <= 0 {
		s.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = DefaultWriteTimeout
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if s.MaxHeaders <= 0 {
		s.MaxHeaders = DefaultMaxHeaders
	}
	if s.MaxURILength <= 0 {
		s.MaxURILength = DefaultMaxURILength
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxConcurrentPerConn <= 0 {
		s.MaxConcurrentPerConn = DefaultMaxConcurrentPerConn
	}
	return s
}

// Server is an HTTP/1.1 server on a poller engine (the seed's
// httpServer): no goroutine per idle connection, pipelined requests,
// responses in order. A failing connection never stops it.
type Server struct {
	set     Settings
	handler Handler
	allIn   bool // InlineHandlers
	ph      pollerHandler
	hpool   sync.Pool // released *hconn, bound to this server's settings

	mu      sync.Mutex
	eng     poller.Engine
	own     bool
	lns     map[net.Listener]struct{}
	conns   map[*hconn]struct{}
	addr    net.Addr
	closing atomic.Bool
	closed  chan struct{} // closed by Shutdown
	once    sync.Once
}

// NewServer returns a server that answers every request with handler. It
// does not listen yet: call ListenAndServe or Serve.
func NewServer(s Settings, handler Handler) *Server {
	srv := &Server{
		set:     s.withDefaults(),
		handler: handler,
		lns:     map[net.Listener]struct{}{},
		conns:   map[*hconn]struct{}{},
		closed:  make(chan struct{}),
	}
	srv.allIn = srv.set.InlineHandlers
	srv.eng = s.Engine
	srv.ph.s = srv
	return srv
}

// timers runs every server's connection timeouts, on timers embedded in
// each hconn: the engine's AfterFunc would allocate one per connection,
// garbage as soon as the connection is upgraded. Its goroutine runs only
// while some connection is open, and its resolution (10 ms) is far below
// any timeout's.
var timers = sync.OnceValue(func() *wheel.Wheel { return wheel.New(10 * time.Millisecond) })

// Settings returns the settings in effect (defaults filled in).
func (s *Server) Settings() Settings { return s.set }

// Addr is the address of the last listener Serve started on, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe listens on Settings.Host:Port and serves until Shutdown
// (then it returns ErrServerClosed) or the listener fails.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.set.Host, strconv.Itoa(s.set.Port)))
	if err != nil {
		return fmt.Errorf("http: listen: %w", err)
	}
	return s.Serve(ln)
}

func (s *Server) engine() (poller.Engine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eng != nil {
		return s.eng, nil
	}
	name := s.set.Backend
	if !slices.Contains(poller.Backends(), name) {
		return nil, fmt.Errorf("%w: %q (linked: %v); import %s", ErrBackendNotLinked, name, poller.Backends(), backendImport(name))
	}
	e, err := poller.New(name, poller.Config{})
	if err != nil {
		return nil, fmt.Errorf("http: starting the %q engine: %w", name, err)
	}
	s.eng, s.own = e, true
	return e, nil
}

// backendImport is the import that links the named backend: rawws's own
// live under poller/; another name is someone else's package.
func backendImport(name string) string {
	switch name {
	case "epoll", "netpoll", "std":
		return `_ "github.com/rawws/rawws/poller/` + name + `"`
	}
	return "the package that registers it (poller.Register)"
}

// Serve accepts connections on ln and serves them; it blocks until
// Shutdown (ErrServerClosed) or ln fails. It takes ln over and closes it.
func (s *Server) Serve(ln net.Listener) error {
	if s.closing.Load() {
		ln.Close()
		return ErrServerClosed
	}
	eng, err := s.engine()
	if err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	s.lns[ln] = struct{}{}
	s.addr = ln.Addr()
	s.mu.Unlock()
	// Some backends serve a duplicate of ln's descriptor and go on after
	// ln is closed; Serve still returns at Shutdown, and connections such
	// a backend accepts meanwhile are closed on open.
	errc := make(chan error, 1)
	go func() { errc <- eng.Serve(ln, &s.ph) }()
	select {
	case err = <-errc:
	case <-s.closed:
		err = ErrServerClosed
	}
	s.mu.Lock()
	delete(s.lns, ln)
	s.mu.Unlock()
	if s.closing.Load() {
		return ErrServerClosed
	}
	return err
}

// ServeConn runs the HTTP pipeline on a connection that is already on an
// engine (for example one accepted elsewhere and adopted): it becomes the
// connection's handler, and bytes it had buffered are parsed first.
func (s *Server) ServeConn(c poller.Conn) {
	s.open(c) // which makes the connection's handler connHandler
}

// Shutdown stops accepting, lets requests in flight finish and their
// responses be written (with Connection: close), closes idle connections
// at once and the rest as they become idle, and returns when every
// connection is gone or ctx ends (then the rest are closed and ctx.Err()
// returned). Hijacked connections are no longer the server's.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.once.Do(func() { close(s.closed) })
	s.mu.Lock()
	for ln := range s.lns {
		ln.Close()
	}
	// A connection may be closed or handed off, and its hconn reused,
	// once s.mu is let go: each is acquired for the connection it served.
	type bound struct {
		h *hconn
		c poller.Conn
	}
	conns := make([]bound, 0, len(s.conns))
	for h := range s.conns {
		conns = append(conns, bound{h, h.c})
	}
	s.mu.Unlock()
	for _, b := range conns {
		if b.h.acquire(b.c) {
			b.h.shutdown()
			b.h.unref()
		}
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var err error
wait:
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-t.C:
		}
	}
	s.mu.Lock()
	for h := range s.conns {
		h.c.Close()
	}
	eng, own := s.eng, s.own
	s.mu.Unlock()
	if own && eng != nil {
		if e := eng.Shutdown(ctx); e != nil && err == nil && !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
			err = e
		}
	}
	return err
}

// shutdown closes an idle connection now and marks a busy one to close
// after its last response.
func (h *hconn) shutdown() {
	h.mu.Lock()
	idle := len(h.queue) == 0 && h.running == 0 && !h.stalled && !h.p.started() && !h.readingBody.Load()
	if idle {
		h.dead, h.stopped = true, true
	}
	h.mu.Unlock()
	if idle {
		h.c.Close()
		return
	}
	h.flush() // closes it if it became idle meanwhile
}

func (s *Server) open(c poller.Conn) *hconn {
	h := newHconn(s, c)
	// The connection's own handler carries h: no context to set and
	// clear (on epoll, a context costs an allocation), and the engine
	// offers nothing to pollerHandler once it is replaced.
	c.SetHandler(connHandler{h})
	s.mu.Lock()
	s.conns[h] = struct{}{}
	s.mu.Unlock()
	first := min(s.set.IdleTimeout, s.set.ReadHeaderTimeout)
	h.mu.Lock()
	h.armLocked(first)
	h.mu.Unlock()
	if s.closing.Load() {
		h.shutdown()
	}
	return h
}

func (s *Server) untrack(h *hconn) {
	s.mu.Lock()
	delete(s.conns, h)
	s.mu.Unlock()
}

// runInline decides where r's handler runs.
func (s *Server) runInline(r *Request) bool {
	if s.allIn {
		return true
	}
	if in, ok := s.handler.(inliner); ok {
		return in.inlineFor(r)
	}
	return false
}

// serve runs the handler; a panic becomes a 500 (or a dropped connection
// when the response had started) and never reaches the loop.
func (s *Server) serve(ex *exchange) {
	defer func() {
		if p := recover(); p != nil {
			w := &ex.w
			if w.streaming || w.finished {
				w.closeAfter = true
				return
			}
			w.header.fields = w.header.fields[:0]
			w.body = w.body[:0]
			w.written = 0
			w.status = 500
			w.hijack = nil
			w.closeAfter = true
			w.WriteString("500 internal server error\n")
		}
	}()
	s.handler.ServeHTTP(&ex.w, &ex.req)
}

// pollerHandler receives a new connection from the engine and hands it
// to its own connHandler (open); it sees no data and no close.
type pollerHandler struct{ s *Server }

func (p *pollerHandler) OnOpen(c poller.Conn)           { p.s.open(c) }
func (p *pollerHandler) OnData(poller.Conn, []byte) int { return 0 }
func (p *pollerHandler) OnClose(poller.Conn, error)     {}

// onData feeds b to h, the HTTP state c pointed at, unless that is gone:
// the connection was hijacked while these bytes were on their way (they
// belong to the new handler, which SetHandler offers them to), and h may
// have been released and reused since.
func onData(h *hconn, c poller.Conn, b []byte) int {
	if h == nil || !h.acquire(c) {
		return 0
	}
	n := h.onData(b)
	h.unref()
	return n
}

func onClose(h *hconn, c poller.Conn) {
	if h != nil && h.acquire(c) {
		h.onClose()
		h.unref()
	}
}

// onReadEOF tells h of the peer's FIN. A stale h (the connection was
// handed off meanwhile, or closed) no longer owns the connection's end:
// answering true leaves it to whoever does.
func onReadEOF(h *hconn, c poller.Conn) bool {
	if h == nil || !h.acquire(c) {
		return true
	}
	owed := h.readEOF()
	h.unref()
	return owed
}

// connHandler serves one connection handed over by ServeConn. It is a
// poller.HalfCloseHandler: answers owed when the peer half-closes are
// still written.
type connHandler struct{ h *hconn }

func (ch connHandler) OnReadEOF(c poller.Conn) bool { return onReadEOF(ch.h, c) }

func (ch connHandler) OnOpen(poller.Conn)                 {}
func (ch connHandler) OnData(c poller.Conn, b []byte) int { return onData(ch.h, c, b) }
func (ch connHandler) OnClose(c poller.Conn, _ error)     { onClose(ch.h, c) }
