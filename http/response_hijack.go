package http

import (
	"net/url"

	"github.com/rawws/rawws/poller"
)

// Hijack ends the HTTP exchange and gives the connection to h: the response
// set so far (typically WriteHeader(101) with Upgrade and Connection
// fields) is sent after every earlier response on the connection, then the
// connection's handler becomes h (poller.Conn.SetHandler), so the bytes
// after this request go to h.OnData; h gets no OnOpen. The HTTP pipeline
// of that connection is over: no goroutine or timer of the server is left,
// Shutdown no longer sees it, and closing it is h's business.
//
// Only a request that asked to switch protocols (Connection: upgrade with
// an Upgrade field) or a CONNECT can be hijacked; the server stops parsing
// after such a request until its handler is done. Hijack blocks until the
// hand-off happened (on an inline handler that is immediate), so bytes the
// caller writes to the returned Conn follow the response. It fails with
// ErrNotHijackable (other requests, a started stream, a second call) or
// ErrConnClosed (the connection died first).
func (w *ResponseWriter) Hijack(h poller.Handler) (poller.Conn, error) {
	ex := w.ex
	if w.finished || w.streaming || w.hijack != nil || h == nil || !(ex.req.upgrade || ex.req.Method == "CONNECT") {
		return nil, ErrNotHijackable
	}
	w.hijack = h
	w.hijacking = true
	if w.hijackOK == nil {
		// Kept with the pooled exchange: one signal per hijack, always
		// received below.
		w.hijackOK = make(chan struct{}, 1)
	}
	hc := ex.c
	hc.finish(ex)
	hc.flush()
	<-w.hijackOK
	if w.hijackErr != nil {
		return nil, w.hijackErr
	}
	return hc.c, nil
}

// UpgradeWebSocket answers a WebSocket opening handshake (RFC 6455 §4.2)
// and hands the connection over. It validates r with CheckUpgrade, checks
// the Origin with checkOrigin (nil: the Origin's host must equal the Host
// field, or no Origin at all, as browsers send one on cross-site requests),
// picks the first of protocols the client offered, and calls newHandler
// with it to get the handler that takes the connection (see Hijack for the
// hand-off and ordering rules). extra fields go into the 101 response.
//
// On a refused handshake it writes the error response (400, 403, 405 or
// 426 with Sec-WebSocket-Version: 13; the connection closes after it) and
// returns the *UpgradeError (errors.Is(err, ErrBadUpgrade)).
func UpgradeWebSocket(w *ResponseWriter, r *Request, protocols []string, checkOrigin func(origin string) bool,
	newHandler func(protocol string) poller.Handler, extra ...[2]string) (poller.Conn, error) {
	key, err := CheckUpgrade(r.Method, r.Header.Join)
	if err == nil {
		origin := r.Header.Get("Origin")
		ok := true
		if checkOrigin != nil {
			ok = checkOrigin(origin)
		} else if origin != "" {
			u, perr := url.Parse(origin)
			ok = perr == nil && equalFold(u.Host, r.Host)
		}
		if !ok {
			err = &UpgradeError{Status: 403, Reason: "origin not allowed"}
		}
	}
	if err != nil {
		w.rawHead = AppendUpgradeError(w.body[:0:0], err)
		w.closeAfter = true
		return nil, err
	}
	proto := ChooseSubprotocol(r.Header.Join("Sec-WebSocket-Protocol"), protocols)
	w.status = 101
	if cap(w.headBuf) < 256 {
		w.headBuf = make([]byte, 0, 256)
	}
	w.headBuf = AppendSwitchingProtocols(w.headBuf[:0], UpgradeResponse{Key: key, Protocol: proto, Header: extra})
	w.rawHead = w.headBuf
	return w.Hijack(newHandler(proto))
}
