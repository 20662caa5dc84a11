package rawws

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// UpgradeOptions configure UpgradeHTTP. The embedded Options configure the
// session (server side).
type UpgradeOptions struct {
	Options
	// Engine runs the connection once upgraded; nil means Backend's shared
	// engine, or DefaultEngine when Backend is empty too.
	Engine  poller.Engine
	Backend string
	// Protocols are the subprotocols the server supports, in order of
	// preference; the first one the client offered is chosen.
	Protocols []string
	// CheckOrigin decides whether to accept a request's Origin; false is
	// answered with 403. nil accepts requests without an Origin header and
	// those whose Origin host equals the request's Host (same origin), which
	// keeps browsers on other sites out.
	CheckOrigin func(r *nethttp.Request) bool
	// Header holds extra fields for the 101 response.
	Header nethttp.Header
}

// UpgradeHTTP upgrades a net/http request to a WebSocket session on an
// event-loop engine. It validates the handshake (RFC 6455 §4.2.1; a bad one
// is answered with 400, 403, 405 or 426 through w and an error wrapping
// rhttp.ErrBadUpgrade is returned), hijacks the connection, writes the 101
// answer, and moves the connection, with any bytes net/http had already
// read past the request, onto the engine: no goroutine is left behind for
// it. After a successful return w and r must not be used. The session's
// mode follows opts.Options as for NewRawSession; an event handler's OnOpen
// runs on the loop.
func UpgradeHTTP(w nethttp.ResponseWriter, r *nethttp.Request, opts UpgradeOptions) (*Session, error) {
	header := func(name string) string {
		if strings.EqualFold(name, "Host") {
			return r.Host
		}
		return strings.Join(r.Header.Values(name), ", ")
	}
	key, err := rhttp.CheckUpgrade(r.Method, header)
	if err == nil {
		check := opts.CheckOrigin
		if check == nil {
			check = sameOrigin
		}
		if !check(r) {
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
	if _, err := nc.Write(head); err != nil {
		nc.Close()
		return nil, fmt.Errorf("rawws: upgrade: writing 101: %w", err)
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
	c, err := eng.Adopt(nc, buffered, s)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("rawws: upgrade: %w", err)
	}
	s.setConn(c)
	return s, nil
}

// sameOrigin accepts a request without Origin, or whose Origin's host is
// the request's Host.
func sameOrigin(r *nethttp.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Host, stripDefaultPort(r.Host, u.Scheme))
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
