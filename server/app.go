package server

import (
	"fmt"
	nethttp "net/http"

	"github.com/rawws/rawws"
	rhttp "github.com/rawws/rawws/http"
)

// App is what a Server serves: HTTP routes and WebSocket endpoints (the
// seed's Application, configured by the module function given to
// Embedded or New). Patterns follow http.ServeMux: one without a trailing
// slash matches that path exactly, one ending in "/" every path under it,
// the longest match wins, and no match is answered 404. Routes may be
// added while the server runs.
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
// mounted handler works through rawws.UpgradeHTTP (with Options.Group set
// to the server's Group, for its drain and counts): the hijacked
// connection is a net.Conn over the server's own connection, with no
// descriptor of its own, so UpgradeHTTP serves it on std (one goroutine
// per session). Prefer App.WebSocket for routes of your own: it upgrades
// in place, on the event loop.
func (a *App) HandleNetHTTP(pattern string, h nethttp.Handler) {
	a.mux.Handle(pattern, rhttp.FromNetHTTP(h))
}

// Endpoint describes a WebSocket endpoint.
type Endpoint struct {
	// Options configure each session. Options.MessageHandler selects
	// message mode, Options.Handler raw frame event mode; with neither,
	// Channel must be set. Options.Group is the server's Group whatever
	// it is set to: leave it nil (another group is an error).
	Options rawws.Options
	// Channel runs a channel-mode session: Session.Start(Channel) on a
	// goroutine started for that session only, when the handshake is done.
	// It cannot be set together with an event handler in Options.
	Channel func(*rawws.Session)
	// Protocols are the supported subprotocols, in order of preference.
	Protocols []string
	// CheckOrigin decides whether a request's Origin is accepted (false:
	// 403), as rawws.AcceptOptions.CheckOrigin: a request without Origin is
	// accepted without a call; nil accepts an Origin whose host is the
	// request's Host. With a CheckOrigin the handshake runs on a goroutine
	// of its own, since the function may block.
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
func (a *App) WebSocket(pattern string, opts rawws.Options) {
	a.Endpoint(pattern, Endpoint{Options: opts})
}

// Channel routes pattern to a channel-mode endpoint: for each session fn
// runs through Session.Start on a goroutine of its own, so it may block on
// Incoming and Send; when fn returns the session is flushed and
// terminated. A nil fn panics at registration, as for WebSocket.
func (a *App) Channel(pattern string, fn func(*rawws.Session)) {
	a.Endpoint(pattern, Endpoint{Channel: fn})
}

// Endpoint routes pattern to the WebSocket endpoint e. It panics, adding
// nothing, when RegisterEndpoint would fail (a programmer error caught at
// registration, as for WebSocket). The handshake runs on the connection's
// event loop (rawws.Accept: no goroutine per upgrade), so the handler's
// OnOpen runs there too, as its other callbacks do; with CheckOrigin or
// NotUpgrade set, which may block, it runs on a goroutine.
func (a *App) Endpoint(pattern string, e Endpoint) {
	if err := a.RegisterEndpoint(pattern, e); err != nil {
		panic(err)
	}
}

// RegisterEndpoint is Endpoint for routes computed at run time (from
// configuration, a plugin, a request): a pattern without the leading '/',
// an endpoint without a handler (no MessageHandler, Handler or Channel),
// or one whose settings contradict each other (both Handler and
// MessageHandler, Channel beside an event handler, an Options.Group that
// is not the server's) fails with an error wrapping http.ErrBadRoute, and
// nothing is added.
func (a *App) RegisterEndpoint(pattern string, e Endpoint) error {
	o := e.Options
	events := o.MessageHandler != nil || o.Handler != nil
	var why string
	switch {
	case !events && e.Channel == nil:
		why = "has no handler"
	case o.MessageHandler != nil && o.Handler != nil:
		why = "has both Handler and MessageHandler"
	case events && e.Channel != nil:
		why = "has Channel beside an event handler"
	case o.Group != nil && o.Group != a.srv.Group():
		why = "names a Group other than its server's"
	}
	if why != "" {
		return fmt.Errorf("rawws: endpoint %q %s: %w", pattern, why, rhttp.ErrBadRoute)
	}
	ep := &endpoint{srv: a.srv, channel: e.Channel, notUpgrade: e.NotUpgrade}
	ep.opts = rawws.AcceptOptions{Options: o, Protocols: e.Protocols, CheckOrigin: e.CheckOrigin}
	ep.opts.Group = a.srv.Group()
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

// endpoint serves one WebSocket route of a Server.
type endpoint struct {
	srv *Server
	// opts is shared read-only by every session of the endpoint
	// (rawws.Accept keeps a pointer to it), so an idle session carries no
	// options of its own.
	opts       rawws.AcceptOptions
	channel    func(*rawws.Session)
	notUpgrade rhttp.Handler
}

// ServeHTTP answers the handshake and starts the session.
func (ep *endpoint) ServeHTTP(w *rhttp.ResponseWriter, r *rhttp.Request) {
	srv := ep.srv
	srv.requests.Add(1)
	if !rhttp.IsWebSocketUpgrade(r.Header.Join) {
		if ep.notUpgrade != nil {
			ep.notUpgrade.ServeHTTP(w, r)
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
		srv.handshakeFailed.Add(1)
		w.Header().Set("Connection", "close")
		w.WriteHeader(nethttp.StatusServiceUnavailable)
		w.WriteString("503 server shutting down\n")
		return
	}
	s, err := rawws.Accept(w, r, &ep.opts)
	if err != nil {
		srv.handshakeFailed.Add(1)
		return
	}
	if ep.channel != nil {
		go s.Start(ep.channel)
	}
}
