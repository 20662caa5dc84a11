package rawws

import (
	nethttp "net/http"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// AcceptOptions configure Accept. The embedded Options configure the
// session (server side).
type AcceptOptions struct {
	Options
	// Protocols are the subprotocols the server supports, in order of
	// preference; the first one the client offered is chosen.
	Protocols []string
	// CheckOrigin decides whether to accept a request's Origin header
	// value, as UpgradeOptions.CheckOrigin does: false is answered with
	// 403, a request without Origin is accepted without a call, and nil
	// accepts an Origin whose host is the request's Host. It runs on the
	// connection's event loop when Accept does, so it must not block.
	CheckOrigin func(origin string) bool
}

// defaultAccept is what a nil *AcceptOptions stands for.
var defaultAccept AcceptOptions

// Accept upgrades a request of rawws's own HTTP server (package http) to
// a WebSocket session, in place: it validates the handshake (RFC 6455
// §4.2.1; a bad one is answered with 400, 403, 405 or 426 and an error
// wrapping http.ErrBadUpgrade is returned), negotiates permessage-deflate
// when opts.Compression is set, queues the 101 and hands the connection,
// with the bytes the client sent behind its request, to the session on
// the same event loop: no goroutine and no copy of the request head per
// upgrade. An event handler's OnOpen runs before Accept returns, before
// any frame is read. After a successful return w and r must not be used.
//
// Accept may run in a handler wrapped in http.NonBlocking (on the event
// loop) as long as opts.CheckOrigin does not block; the event handlers
// must not block anyway.
//
// opts is shared, not copied: every session accepted with the same
// *AcceptOptions reads it for as long as it lives, so an endpoint's idle
// sessions carry no options of their own. Do not change *opts once a
// session was accepted with it. nil means the defaults (a channel-mode
// session). With opts.Group set the session joins it before OnOpen; a
// group that drains has the request answered 503 and ErrDraining
// returned. Options with both Handler and MessageHandler are answered 500
// and fail with ErrInvalidArgument.
func Accept(w *rhttp.ResponseWriter, r *rhttp.Request, opts *AcceptOptions) (*Session, error) {
	if opts == nil {
		opts = &defaultAccept
	}
	if err := opts.check(); err != nil {
		refuseNative(w, nethttp.StatusInternalServerError, "500 websocket endpoint misconfigured\n")
		return nil, err
	}
	if err := refuseDraining(opts.Group); err != nil {
		refuseNative(w, nethttp.StatusServiceUnavailable, "503 server shutting down\n")
		return nil, err
	}
	var extra [][2]string
	pmdParams, ext := acceptCompression(opts.Compression, r.Header.Join("Sec-WebSocket-Extensions"))
	if ext != "" {
		extra = append(extra, [2]string{"Sec-WebSocket-Extensions", ext})
	}
	// The session takes the connection pending: until complete it keeps
	// the bytes that arrive and holds a close (onData, onClose).
	s := newSessionShared(&opts.Options)
	s.flags.Or(flagPending)
	host, check := r.Host, opts.CheckOrigin
	c, err := rhttp.UpgradeWebSocket(w, r, opts.Protocols,
		func(origin string) bool { return originAllowed(origin, host, check) },
		func(string) poller.Handler { return s.pollHandler() }, extra...)
	if err != nil {
		return nil, err
	}
	if ext != "" {
		s.enableCompression(opts.Compression, pmdParams, ext, true)
	}
	s.complete(c)
	return s, nil
}

// refuseNative answers a request Accept refuses before the handshake, and
// closes the connection after the answer.
func refuseNative(w *rhttp.ResponseWriter, status int, body string) {
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	w.WriteString(body)
}
