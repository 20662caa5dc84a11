package rawws

import (
	"fmt"
	nethttp "net/http"

	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// App is what a Server serves: HTTP routes and WebSocket endpoints (the
// seed's Application, configured by the module function given to
// EmbeddedServer or NewServer). Patterns follow http.ServeMux: one without
// a trailing slash matches that path exactly, one ending in "/" every path
// under it, the longest match wins, and no match is answered 404. Routes
// may be added while the server runs.
type App struct {
	srv *Server
	mux *rhttp.ServeMux
}

func newApp(srv *Server) *App { return &App{srv: srv, mux: rhttp.NewServeMux()} }

// Server is the server the App belongs to.
func (a *App) Server() *Server { return a.srv }

// Handle routes pattern to a native HTTP handler. It runs on a goroutine
// of its own (it may block) unless wrapped in http.NonBlocking. Like
// http.ServeMux.Handle it panics on a bad pattern or a nil handler (see
// RegisterHandler for routes computed at run time).
func (a *App) Handle(pattern string, h rhttp.Handler) { a.mux.Handle(pattern, h) }

// HandleFunc routes pattern to f.
func (a *App) HandleFunc(pattern string, f func(w *rhttp.ResponseWriter, r *rhttp.Request)) {
	a.mux.HandleFunc(pattern, f)
}

// HandleNetHTTP routes pattern to a standard net/http handler through
// http.FromNetHTTP (request copied into a *net/http.Request). Its
// ResponseWriter is an http.Hijacker, so a WebSocket route inside the
// mounted handler works, UpgradeHTTP and Server.UpgradeHTTP included: the
// hijacked connection is a net.Conn over the server's own connection,
// with no descriptor of its own, so UpgradeHTTP serves it on std (one
// goroutine per session). Prefer App.WebSocket for routes of your own:
// it upgrades in place, on the event loop.
func (a *App) HandleNetHTTP(pattern string, h nethttp.Handler) {
	a.mux.Handle(pattern, rhttp.FromNetHTTP(h))
}

// Endpoint describes a WebSocket endpoint.
type Endpoint struct {
	// Options configure each session. Options.MessageHandler selects
	// message mode, Options.Handler raw frame event mode; with neither,
	// Channel must be set.
	Options Options
	// Channel runs a channel-mode session: Session.Start(Channel) on a
	// goroutine started for that session only, when the handshake is done.
	Channel func(*Session)
	// Protocols are the supported subprotocols, in order of preference.
	Protocols []string
	// CheckOrigin decides whether an Origin is accepted (false: 403). nil
	// accepts a request without Origin or whose Origin host is its Host.
	// With a CheckOrigin the handshake runs on a goroutine of its own,
	// since the function may block.
	CheckOrigin func(origin string) bool
	// NotUpgrade answers requests on this path that are not WebSocket
	// upgrades; nil answers 426 Upgrade Required. With a NotUpgrade the
	// route's requests run on a goroutine of their own, since it may
	// block.
	NotUpgrade rhttp.Handler
}

// WebSocket routes pattern to an event-mode endpoint: opts.MessageHandler
// (message mode) or opts.Handler (raw frames). It panics when opts has
// neither, or when pattern does not start with '/': a route written in the
// program without a handler is a programmer error, caught when the route
// is registered, never while requests are served, as http.ServeMux.Handle
// does. A route computed at run time goes through RegisterEndpoint, which
// returns the error instead.
func (a *App) WebSocket(pattern string, opts Options) {
	a.Endpoint(pattern, Endpoint{Options: opts})
}

// Channel routes pattern to a channel-mode endpoint: for each session fn
// runs through Session.Start on a goroutine of its own, so it may block on
// Incoming and Send; when fn returns the session is flushed and
// terminated. A nil fn panics at registration, as for WebSocket.
func (a *App) Channel(pattern string, fn func(*Session)) {
	a.Endpoint(pattern, Endpoint{Channel: fn})
}

// Endpoint routes pattern to the WebSocket endpoint e. It panics, adding
// nothing, when RegisterEndpoint would fail (a programmer error caught at
// registration, as for WebSocket). The handshake runs on the connection's
// event loop (no goroutine per upgrade), so the handler's OnOpen runs there
// too, as its other callbacks do; with CheckOrigin or NotUpgrade set,
// which may block, it runs on a goroutine.
func (a *App) Endpoint(pattern string, e Endpoint) {
	if err := a.RegisterEndpoint(pattern, e); err != nil {
		panic(err)
	}
}

// RegisterEndpoint is Endpoint for routes computed at run time (from
// configuration, a plugin, a request): a pattern without the leading '/'
// or an endpoint without a handler (no MessageHandler, Handler or Channel)
// fails with an error wrapping http.ErrBadRoute, and nothing is added.
func (a *App) RegisterEndpoint(pattern string, e Endpoint) error {
	if e.Options.MessageHandler == nil && e.Options.Handler == nil && e.Channel == nil {
		return fmt.Errorf("rawws: endpoint %q has no handler: %w", pattern, rhttp.ErrBadRoute)
	}
	ep := newEndpoint(a.srv, e)
	if e.CheckOrigin == nil && e.NotUpgrade == nil {
		// Nothing of the user's that may block runs before the session
		// exists (event handlers must not block anyway), so the handshake
		// runs on the event loop: no goroutine, and no copy of the
		// request head, per upgrade.
		return a.mux.Register(pattern, rhttp.NonBlocking(ep))
	}
	return a.mux.Register(pattern, ep)
}

// RegisterHandler is Handle for routes computed at run time: a bad
// pattern or a nil handler fails with an error wrapping http.ErrBadRoute,
// and nothing is added.
func (a *App) RegisterHandler(pattern string, h rhttp.Handler) error {
	return a.mux.Register(pattern, h)
}

// newEndpoint wraps e's event handler so that its sessions enter and
// leave the server's registry.
func newEndpoint(srv *Server, e Endpoint) *endpoint {
	ep := &endpoint{srv: srv, e: e}
	switch {
	case e.Options.MessageHandler != nil:
		ep.e.Options.MessageHandler = trackedMessages{ep}
		ep.user.msgs = e.Options.MessageHandler
	case e.Options.Handler != nil:
		ep.e.Options.Handler = trackedFrames{ep}
		ep.user.frames = e.Options.Handler
	}
	so := ep.e.Options.withDefaults()
	ep.sopts = &so
	return ep
}

// endpoint serves one WebSocket route of a Server.
type endpoint struct {
	srv *Server
	e   Endpoint // Options hold the tracking wrappers
	// sopts is e.Options with defaults, shared read-only by every
	// session of the endpoint.
	sopts *Options
	user  struct {
		msgs   MessageHandler
		frames Handler
	}
}

// ServeHTTP answers the handshake and starts the session.
func (ep *endpoint) ServeHTTP(w *rhttp.ResponseWriter, r *rhttp.Request) {
	srv := ep.srv
	srv.m.requests.Add(1)
	if !rhttp.IsWebSocketUpgrade(r.Header.Join) {
		if ep.e.NotUpgrade != nil {
			ep.e.NotUpgrade.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Version", "13")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(nethttp.StatusUpgradeRequired)
		w.WriteString("426 upgrade required: this is a WebSocket endpoint\n")
		return
	}
	if srv.closing.Load() {
		srv.m.handshakeFailed.Add(1)
		w.Header().Set("Connection", "close")
		w.WriteHeader(nethttp.StatusServiceUnavailable)
		w.WriteString("503 server shutting down\n")
		return
	}
	var extra [][2]string
	pmdParams, ext := acceptCompression(ep.e.Options.Compression, r.Header.Join("Sec-WebSocket-Extensions"))
	if ext != "" {
		extra = append(extra, [2]string{"Sec-WebSocket-Extensions", ext})
	}
	// The session takes the connection pending: until complete it keeps
	// the bytes that arrive and holds a close (Session.OnData, OnClose).
	s := newSessionShared(ep.sopts)
	s.flags.Or(flagPending)
	c, err := rhttp.UpgradeWebSocket(w, r, ep.e.Protocols, ep.e.CheckOrigin, func(string) poller.Handler { return s.pollHandler() }, extra...)
	if err != nil {
		srv.m.handshakeFailed.Add(1)
		return
	}
	srv.m.upgraded.Add(1)
	if ext != "" {
		s.enableCompression(ep.e.Options.Compression, pmdParams, ext, true)
	}
	if ep.e.Channel != nil && s.mode == modeChannel {
		srv.register(s)
		s.complete(c)
		go ep.runChannel(s)
		return
	}
	// The tracking wrapper's OnOpen registers the session.
	s.complete(c)
}

// runChannel runs a channel-mode session's handler, then keeps the
// registry right until the connection is gone.
func (ep *endpoint) runChannel(s *Session) {
	s.Start(ep.e.Channel)
	<-s.Done()
	ep.srv.unregister(s, s.Err())
}

// trackedMessages puts a message-mode session in its server's registry.
type trackedMessages struct{ ep *endpoint }

func (t trackedMessages) OnOpen(s *Session) {
	t.ep.srv.register(s)
	t.ep.user.msgs.OnOpen(s)
}

func (t trackedMessages) OnMessage(s *Session, op frame.Opcode, p []byte) {
	t.ep.user.msgs.OnMessage(s, op, p)
}

func (t trackedMessages) OnClose(s *Session, err error) {
	t.ep.srv.unregister(s, err)
	t.ep.user.msgs.OnClose(s, err)
}

// trackedFrames puts a raw frame-mode session in its server's registry.
// A raw session answers nothing by itself, so when the peer answers the
// server's drain Close, the wrapper ends the connection.
type trackedFrames struct{ ep *endpoint }

func (t trackedFrames) OnOpen(s *Session) {
	t.ep.srv.register(s)
	t.ep.user.frames.OnOpen(s)
}

func (t trackedFrames) OnFrame(s *Session, f frame.Frame) {
	t.ep.user.frames.OnFrame(s, f)
	if f.Opcode == frame.OpClose && t.ep.srv.drained(s) {
		s.Terminate()
	}
}

func (t trackedFrames) OnClose(s *Session, err error) {
	t.ep.srv.unregister(s, err)
	t.ep.user.frames.OnClose(s, err)
}
