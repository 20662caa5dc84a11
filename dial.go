package rawws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	nethttp "net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/internal/deflate"
	"github.com/rawws/rawws/poller"
	// The portable backend is always linked: it serves the connections no
	// event loop can take. The default event loop (epoll on Linux) comes
	// with package http; netpoll only with a program that imports it.
	_ "github.com/rawws/rawws/poller/std"
)

var (
	enginesMu sync.Mutex
	engines   = map[string]poller.Engine{}
)

// EngineFor returns the package's shared engine of the named backend,
// starting it with the default poller.Config on first use; it lives as
// long as the process. "" names http.DefaultBackend: epoll on Linux, std
// elsewhere, the only backends the package links. Another backend is
// available once the program imports its package (poller/netpoll); an
// unknown name fails with an error wrapping poller.ErrUnknownBackend.
func EngineFor(backend string) (poller.Engine, error) {
	if backend == "" {
		backend = rhttp.DefaultBackend
	}
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e := engines[backend]; e != nil {
		return e, nil
	}
	e, err := poller.New(backend, poller.Config{})
	if err != nil {
		return nil, fmt.Errorf("rawws: engine: %w", err)
	}
	engines[backend] = e
	return e, nil
}

// pickEngine resolves an explicit engine, else a backend name ("" is the
// default).
func pickEngine(e poller.Engine, backend string) (poller.Engine, error) {
	if e != nil {
		return e, nil
	}
	return EngineFor(backend)
}

// DialOptions configure Dial. The embedded Options configure the session;
// Options.Client is implied.
type DialOptions struct {
	Options
	// LocalAddr, when set, is the local address to dial from (a
	// *net.TCPAddr, port usually 0). A load generator spreads connections
	// over several source addresses (127.0.0.2, 127.0.0.3, ...) this way
	// when one address runs out of ephemeral ports (about 28,000).
	LocalAddr net.Addr
	// Engine runs the connection; nil means EngineFor(Backend), the shared
	// engine of that backend ("": the default backend).
	Engine  poller.Engine
	Backend string
	// Header holds extra request header fields (Origin, Authorization...).
	Header nethttp.Header
	// Protocols are the subprotocols offered, in order of preference.
	Protocols []string
	// NetDialContext, when set, opens the TCP connection instead of the
	// engine (LocalAddr is then the dialer's business). A connection
	// without a socket descriptor (a wrapper, an in-memory pipe) is served
	// on the std backend, the only one that can read through it.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// HandshakeTimeout bounds the dial and the opening handshake together;
	// 0 means DefaultHandshakeTimeout, so a server that never answers
	// cannot hold Dial forever when ctx has no deadline.
	HandshakeTimeout time.Duration
	// Proxy returns the HTTP proxy to tunnel through with CONNECT for a
	// request (its URL's scheme is http), or nil for none; nil Proxy means
	// net/http's ProxyFromEnvironment (HTTP_PROXY, NO_PROXY; loopback is
	// never proxied). The proxy URL's user info is sent as Basic
	// Proxy-Authorization; an answer other than 200 fails Dial.
	Proxy func(*nethttp.Request) (*url.URL, error)
}

// DefaultHandshakeTimeout is the HandshakeTimeout Dial uses when none is
// set.
const DefaultHandshakeTimeout = 30 * time.Second

// DialResponse is the server's answer to the handshake.
type DialResponse struct {
	StatusCode int
	Header     nethttp.Header
	// Protocol is the subprotocol the server chose, or "".
	Protocol string
}

// maxResponseHead bounds the handshake response head a server may send.
const maxResponseHead = 16 << 10

// Dial opens a WebSocket client session to a "ws://host:port/path?query"
// URL on the engine opts selects. It writes the handshake itself (a fresh
// random key), requires "101 Switching Protocols" with the right
// Sec-WebSocket-Accept, no extension but the permessage-deflate that
// Options.Compression offered (an answer the offer does not allow fails,
// RFC 7692 §5), and a subprotocol only among those
// offered, and returns the session (masking on) with the server's answer.
// The session's mode follows opts.Options as for NewRawSession. Dial blocks
// until the handshake ends, ctx does or HandshakeTimeout passes (an
// error wrapping ErrHandshake and context.DeadlineExceeded); handshake failures wrap
// ErrHandshake (the DialResponse is returned when the server answered), a
// URL it cannot use wraps ErrBadURL ("wss" is not supported yet).
func Dial(ctx context.Context, rawURL string, opts DialOptions) (*Session, *DialResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("%w: scheme %q (only ws is supported)", ErrBadURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("%w: no host in %q", ErrBadURL, rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	eng, err := pickEngine(opts.Engine, opts.Backend)
	if err != nil {
		return nil, nil, err
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	var req bytes.Buffer
	path := u.RequestURI()
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", path, u.Host, key)
	if len(opts.Protocols) > 0 {
		fmt.Fprintf(&req, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(opts.Protocols, ", "))
	}
	if opts.Compression != nil {
		fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", deflate.Offer(opts.Compression.settings()))
	}
	for name, vals := range opts.Header {
		for _, v := range vals {
			if strings.ContainsAny(name, "\r\n:") || strings.ContainsAny(v, "\r\n") {
				return nil, nil, fmt.Errorf("%w: header %q has a forbidden character", ErrBadURL, name)
			}
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")

	so := opts.Options
	so.Client = true
	hs := &clientHandshake{
		req:    req.Bytes(),
		accept: string(rhttp.AppendAcceptKey(nil, key)),
		offers: opts.Protocols,
		comp:   opts.Compression,
		sess:   newSession(so),
		result: make(chan error, 1),
	}
	dial := opts.NetDialContext
	proxy := opts.Proxy
	if proxy == nil {
		proxy = nethttp.ProxyFromEnvironment
	}
	pu, err := proxy(&nethttp.Request{URL: &url.URL{Scheme: "http", Host: addr}})
	if err != nil {
		return nil, nil, fmt.Errorf("rawws: proxy: %w", err)
	}
	if pu != nil {
		dial = connectVia(pu, opts.LocalAddr, dial)
	}
	c, err := dialConn(ctx, eng, addr, opts.LocalAddr, dial, hs)
	if err != nil {
		return nil, nil, fmt.Errorf("rawws: dial %s: %w", addr, err)
	}
	select {
	case err = <-hs.result:
	case <-ctx.Done():
		c.CloseWithError(ctx.Err())
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, ctx.Err())
	}
	if err != nil {
		return nil, hs.resp, err
	}
	return hs.sess, hs.resp, nil
}

// clientHandshake runs the client side of the opening handshake on the
// loop, then hands the connection to the session.
type clientHandshake struct {
	req    []byte
	accept string
	offers []string
	comp   *Compression // offered permessage-deflate, or nil
	sess   *Session
	resp   *DialResponse
	result chan error
	done   bool
}

func (h *clientHandshake) OnOpen(c poller.Conn) {
	if _, err := c.Write(h.req); err != nil {
		h.finish(fmt.Errorf("%w: writing request: %v", ErrHandshake, err))
		c.CloseWithError(err)
	}
}

func (h *clientHandshake) OnData(c poller.Conn, b []byte) int {
	if h.done {
		return len(b)
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxResponseHead {
			err := fmt.Errorf("%w: response head over %d bytes", ErrHandshake, maxResponseHead)
			h.finish(err)
			c.CloseWithError(err)
			return len(b)
		}
		return 0
	}
	n := end + 4
	if err := h.check(b[:n]); err != nil {
		h.finish(err)
		c.CloseWithError(err)
		return len(b)
	}
	// The session takes the connection; bytes after the head are frames.
	h.sess.attach(c)
	c.SetHandler(h.sess.pollHandler())
	h.finish(nil)
	return n
}

func (h *clientHandshake) OnClose(c poller.Conn, err error) {
	h.finish(fmt.Errorf("%w: connection closed during handshake: %v", ErrHandshake, err))
}

// finish reports the handshake's outcome once.
func (h *clientHandshake) finish(err error) {
	if h.done {
		return
	}
	h.done = true
	h.result <- err
}

// check validates the response head.
func (h *clientHandshake) check(head []byte) error {
	resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	resp.Body.Close()
	h.resp = &DialResponse{StatusCode: resp.StatusCode, Header: resp.Header, Protocol: resp.Header.Get("Sec-WebSocket-Protocol")}
	tokens := func(name string) string { return strings.Join(resp.Header.Values(name), ", ") }
	switch {
	case resp.StatusCode != nethttp.StatusSwitchingProtocols:
		return fmt.Errorf("%w: status %s", ErrHandshake, resp.Status)
	case !rhttp.IsWebSocketUpgrade(tokens):
		return fmt.Errorf("%w: no Upgrade: websocket", ErrHandshake)
	case !hasToken(tokens("Connection"), "upgrade"):
		return fmt.Errorf("%w: no Connection: upgrade", ErrHandshake)
	case resp.Header.Get("Sec-WebSocket-Accept") != h.accept:
		return fmt.Errorf("%w: wrong Sec-WebSocket-Accept", ErrHandshake)
	case h.comp == nil && tokens("Sec-WebSocket-Extensions") != "":
		return fmt.Errorf("%w: server chose extensions %q that were not offered", ErrHandshake, tokens("Sec-WebSocket-Extensions"))
	}
	if h.comp != nil {
		// RFC 7692 §5: an answer the offer does not allow fails the
		// connection.
		ext := tokens("Sec-WebSocket-Extensions")
		p, ok, err := deflate.ParseResponse(ext, h.comp.settings())
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		if ok {
			h.sess.enableCompression(h.comp, p, ext, false)
		}
	}
	if p := h.resp.Protocol; p != "" {
		ok := false
		for _, o := range h.offers {
			ok = ok || o == p
		}
		if !ok {
			return fmt.Errorf("%w: server chose subprotocol %q that was not offered", ErrHandshake, p)
		}
	}
	return nil
}

// hasToken reports whether the comma-separated list v holds token (any case).
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// dialConn connects to addr on eng, from local when it is set (dialled by
// net.Dialer, then adopted: the poller interface has no local address).
func dialConn(ctx context.Context, eng poller.Engine, addr string, local net.Addr, dial func(context.Context, string, string) (net.Conn, error), h poller.Handler) (poller.Conn, error) {
	if local == nil && dial == nil {
		return eng.Dial(ctx, "tcp", addr, h)
	}
	if dial == nil {
		d := net.Dialer{LocalAddr: local}
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if !canAdopt(eng, nc) {
		if eng, err = EngineFor(goroutineBackend); err != nil {
			nc.Close()
			return nil, err
		}
	}
	c, err := eng.Adopt(nc, nil, h)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// maxProxyHead bounds a proxy's answer to CONNECT.
const maxProxyHead = 16 << 10

// connectVia returns a dialer that opens a tunnel to its address through
// the HTTP proxy pu (RFC 9110 §9.3.6).
func connectVia(pu *url.URL, local net.Addr, next func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if pu.Scheme != "http" && pu.Scheme != "" {
			return nil, fmt.Errorf("%w: proxy scheme %q (only http is supported)", ErrBadURL, pu.Scheme)
		}
		paddr := pu.Host
		if pu.Port() == "" {
			paddr += ":80"
		}
		if next == nil {
			d := net.Dialer{LocalAddr: local}
			next = d.DialContext
		}
		nc, err := next(ctx, network, paddr)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", paddr, err)
		}
		if dl, ok := ctx.Deadline(); ok {
			nc.SetDeadline(dl)
		}
		req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
		if pu.User != nil {
			pw, _ := pu.User.Password()
			req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(pu.User.Username()+":"+pw)) + "\r\n"
		}
		if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
			nc.Close()
			return nil, fmt.Errorf("proxy %s: %w", paddr, err)
		}
		// One byte at a time: nothing past the proxy's head may be read
		// here, it belongs to the WebSocket handshake.
		var head []byte
		one := make([]byte, 1)
		for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			if len(head) > maxProxyHead {
				nc.Close()
				return nil, fmt.Errorf("%w: proxy answer head over %d bytes", ErrHandshake, maxProxyHead)
			}
			if _, err := nc.Read(one); err != nil {
				nc.Close()
				return nil, fmt.Errorf("%w: reading proxy answer: %v", ErrHandshake, err)
			}
			head = append(head, one[0])
		}
		resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &nethttp.Request{Method: "CONNECT"})
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("%w: proxy answer: %v", ErrHandshake, err)
		}
		if resp.StatusCode != nethttp.StatusOK {
			nc.Close()
			return nil, fmt.Errorf("%w: proxy %s refused CONNECT: %s", ErrHandshake, paddr, resp.Status)
		}
		nc.SetDeadline(time.Time{})
		return nc, nil
	}
}
