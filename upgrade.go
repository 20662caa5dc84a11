package rawws

import (
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"time"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/internal/netfd"
	"github.com/rawws/rawws/poller"
)

// UpgradeOptions configure UpgradeHTTP. The embedded Options configure the
// session (server side).
type UpgradeOptions struct {
	Options
	// Engine runs the connection once upgraded; nil means
	// EngineFor(Backend), the shared engine of that backend ("": the
	// default backend).
	Engine  poller.Engine
	Backend string
	// Protocols are the subprotocols the server supports, in order of
	// preference; the first one the client offered is chosen.
	Protocols []string
	// CheckOrigin decides whether to accept a request's Origin header
	// value; false is answered with 403. It is not called for a request
	// without Origin (not a browser's cross-site request), which is
	// accepted. nil accepts an Origin whose host equals the request's Host
	// (same origin), which keeps browsers on other sites out.
	CheckOrigin func(origin string) bool
	// Header holds extra fields for the 101 response.
	Header nethttp.Header
}

// UpgradeHTTP upgrades a net/http request to a WebSocket session on an
// event-loop engine. It validates the handshake (RFC 6455 §4.2.1; a bad one
// is answered with 400, 403, 405 or 426 through w and an error wrapping
// rhttp.ErrBadUpgrade is returned), hijacks the connection, moves it, with
// any bytes net/http had already read past the request, onto the engine
// (no goroutine is left behind for it), and only then writes the 101
// answer: when the engine refuses the connection the client is answered
// 500 instead (or sees the connection closed, when the engine refused it
// after taking its descriptor), never switched and then dropped. After a
// successful return w and r must not be used.
//
// A connection an event loop cannot take, because it exposes no socket
// descriptor (net/http's TLS server hands over a *tls.Conn; wrappers and
// in-memory connections do the same), is served on the std backend's
// shared engine instead, whatever opts asked for: one goroutine per
// connection, reading through the wrapper. Every other connection stays on
// the engine opts name.
//
// The session's mode follows opts.Options as for NewRawSession (both
// handlers set is answered 500 and fails with ErrInvalidArgument). An event
// handler's OnOpen runs on the engine's loop, once the 101 is queued and
// before any frame is read, and before UpgradeHTTP returns the session.
// With opts.Group set the session joins it before OnOpen; a group that
// drains has the request answered 503 and ErrDraining returned.
func UpgradeHTTP(w nethttp.ResponseWriter, r *nethttp.Request, opts UpgradeOptions) (*Session, error) {
	if err := opts.check(); err != nil {
		nethttp.Error(w, "websocket endpoint misconfigured", nethttp.StatusInternalServerError)
		return nil, err
	}
	if err := refuseDraining(opts.Group); err != nil {
		nethttp.Error(w, "server shutting down", nethttp.StatusServiceUnavailable)
		return nil, err
	}
	header := func(name string) string {
		if strings.EqualFold(name, "Host") {
			return r.Host
		}
		return strings.Join(r.Header.Values(name), ", ")
	}
	key, err := rhttp.CheckUpgrade(r.Method, header)
	if err == nil {
		if !originAllowed(r.Header.Get("Origin"), r.Host, opts.CheckOrigin) {
			err = &rhttp.UpgradeError{Status: nethttp.StatusForbidden, Reason: "origin not allowed"}
		}
	}
	if err != nil {
		status := nethttp.StatusBadRequest
		var ue *rhttp.UpgradeError
		if errors.As(err, &ue) {
			status = ue.Status
		}
		if status == nethttp.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		nethttp.Error(w, nethttp.StatusText(status), status)
		return nil, err
	}
	eng, err := pickEngine(opts.Engine, opts.Backend)
	if err != nil {
		nethttp.Error(w, "websocket engine unavailable", nethttp.StatusInternalServerError)
		return nil, err
	}
	hj, ok := w.(nethttp.Hijacker)
	if !ok {
		nethttp.Error(w, "connection cannot be upgraded", nethttp.StatusInternalServerError)
		return nil, fmt.Errorf("rawws: upgrade: %T is not an http.Hijacker", w)
	}
	resp := rhttp.UpgradeResponse{Key: key, Protocol: rhttp.ChooseSubprotocol(header("Sec-WebSocket-Protocol"), opts.Protocols)}
	pmdParams, ext := acceptCompression(opts.Compression, header("Sec-WebSocket-Extensions"))
	resp.Extensions = ext
	for name, vals := range opts.Header {
		for _, v := range vals {
			resp.Header = append(resp.Header, [2]string{name, v})
		}
	}
	head := rhttp.AppendSwitchingProtocols(nil, resp)

	nc, rw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("rawws: upgrade: hijack: %w", err)
	}
	// net/http may have set deadlines for reading the request; the engine
	// manages the connection from now on.
	nc.SetDeadline(time.Time{})
	if !canAdopt(eng, nc) {
		// TLS, or a wrapper without a descriptor: only the goroutine path
		// can serve it, and it can serve any net.Conn.
		if eng, err = EngineFor(goroutineBackend); err != nil {
			refuseHijacked(nc)
			return nil, fmt.Errorf("rawws: upgrade: %T has no descriptor for an event loop: %w", nc, err)
		}
	}
	var buffered []byte
	if n := rw.Reader.Buffered(); n > 0 {
		p, _ := rw.Reader.Peek(n)
		buffered = append([]byte(nil), p...)
	}
	so := opts.Options
	so.Client = false
	s := newSession(so)
	if ext != "" {
		s.enableCompression(so.Compression, pmdParams, ext, true)
	}
	// The engine takes the connection before the 101 is written, so a
	// failed hand-off can still be answered in HTTP. Until complete the
	// session keeps the bytes that arrive and holds a close.
	s.flags.Or(flagPending)
	pa := &pendingAdopt{s: s, head: head, done: make(chan error, 1)}
	if _, err := eng.Adopt(nc, buffered, pa); err != nil {
		// Adopt leaves a connection it refused either untouched or closed;
		// on a closed one the answer goes nowhere and the client sees the
		// connection end without a switch.
		refuseHijacked(nc)
		return nil, fmt.Errorf("rawws: upgrade: %w", err)
	}
	// The engine opens the connection on its loop, writes the 101 there
	// and opens the session behind it; a session returned is attached.
	if err := <-pa.done; err != nil {
		return nil, err
	}
	return s, nil
}

// goroutineBackend serves the connections no event loop can adopt.
const goroutineBackend = "std"

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
	// Undo holdPending's pause, if one came; nothing else pauses a
	// pending session.
	c.ResumeRead()
}

// canAdopt reports whether eng can take nc over. Only the goroutine
// backend adopts any net.Conn; the event loops need the socket's
// descriptor, which a *tls.Conn or another wrapper does not expose.
func canAdopt(eng poller.Engine, nc net.Conn) bool {
	return eng.Name() == goroutineBackend || netfd.Has(nc)
}

// refuseHijacked answers a hijacked request that cannot be switched with
// 500 and closes the connection.
func refuseHijacked(nc net.Conn) {
	nc.SetWriteDeadline(time.Now().Add(refuseTimeout))
	nc.Write([]byte(refusal))
	nc.Close()
}

// refusal is the whole answer to an upgrade whose hand-off failed.
const refusal = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 35\r\nConnection: close\r\n\r\nwebsocket connection not accepted\r\n"

// refuseTimeout bounds the refusal's write to a client that does not read.
const refuseTimeout = 5 * time.Second

// pendingAdopt is the handler an engine adopting an upgraded connection
// calls first. Its OnOpen, on the engine's loop and before any OnData,
// writes the 101 and then opens the session (complete), so the event
// handler's OnOpen runs on the loop after the 101, the session's first
// frame follows it, and the bytes the client sent after its request (and
// its FIN) reach the session in order. Doing this on the loop, rather than
// on UpgradeHTTP's goroutine once Adopt returns, leaves no moment where
// two goroutines hand the connection over at once.
type pendingAdopt struct {
	s    *Session
	head []byte     // the 101 answer
	done chan error // the outcome, for UpgradeHTTP (buffered: never blocks the loop)
	// fired: OnOpen, or an OnClose before it, has decided the outcome.
	fired atomic.Bool
}

func (p *pendingAdopt) OnOpen(c poller.Conn) {
	if !p.fired.CompareAndSwap(false, true) {
		return
	}
	if _, err := c.Write(p.head); err != nil {
		// The session never opens; its held close is dropped with it.
		c.CloseWithError(err)
		p.done <- fmt.Errorf("rawws: upgrade: writing 101: %w", err)
		return
	}
	p.head = nil
	p.s.complete(c)
	p.done <- nil
}

func (p *pendingAdopt) OnData(c poller.Conn, b []byte) int { return p.s.onData(c, b) }

// OnReadEOF passes on a FIN (none comes before OnOpen; after it the
// session is the handler, or is about to be).
func (p *pendingAdopt) OnReadEOF(c poller.Conn) bool { return p.s.onReadEOF(c) }

func (p *pendingAdopt) OnClose(c poller.Conn, err error) {
	p.s.onClose(c, err)
	if p.fired.CompareAndSwap(false, true) {
		// Gone before the engine opened it: no 101 was written.
		if err == nil {
			err = poller.ErrClosed
		}
		p.done <- fmt.Errorf("rawws: upgrade: connection closed before the switch: %w", err)
	}
}

// originAllowed applies CheckOrigin's rule: a request without Origin is
// accepted, check decides the others, and without check the Origin's host
// must be the request's Host.
func originAllowed(origin, host string, check func(string) bool) bool {
	switch {
	case origin == "":
		return true
	case check != nil:
		return check(origin)
	}
	return sameOrigin(origin, host)
}

// sameOrigin reports whether origin's host is the request's Host.
func sameOrigin(o, host string) bool {
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, host) || strings.EqualFold(u.Host, stripDefaultPort(host, u.Scheme))
}

// stripDefaultPort drops ":80"/":443" from host when it is the scheme's
// default, so "http://x" matches Host "x:80".
func stripDefaultPort(host, scheme string) string {
	def := map[string]int{"http": 80, "https": 443}[scheme]
	if def != 0 && strings.HasSuffix(host, ":"+strconv.Itoa(def)) {
		return strings.TrimSuffix(host, ":"+strconv.Itoa(def))
	}
	return host
}
