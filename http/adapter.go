package http

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// FromNetHTTP runs a standard net/http handler on this server. Each
// request is turned into an *net/http.Request (headers canonicalized and
// copied, so the handler may keep them; Body reads a copy of our body) and
// the handler writes through a net/http.ResponseWriter shim. Like net/http
// it sniffs a Content-Type when the handler sets none.
//
// The shim implements http.Flusher and http.Hijacker. Hijack works on a
// request that asked to switch protocols (Connection: upgrade with an
// Upgrade field) or a CONNECT, as WebSocket libraries need; on others it
// fails with ErrNotHijackable, because the server may have read requests
// pipelined behind it already. The hijacked net.Conn has no file
// descriptor: it is the engine's connection seen through blocking Read
// and Write (with deadlines); the bytes that followed the request come
// through Read, so the bufio.Reader it comes with starts empty.
//
// r.Context() is cancelled when the client goes away (its FIN or a closed
// connection), as in net/http; the response is still written if the
// connection can take it.
//
// Not supported: trailers and http.ResponseController deadlines. The
// handler blocks as net/http handlers do, so it always runs on a
// goroutine; do not combine it with Settings.InlineHandlers.
func FromNetHTTP(h nethttp.Handler) Handler { return netHTTPAdapter{h} }

type netHTTPAdapter struct{ h nethttp.Handler }

func (a netHTTPAdapter) ServeHTTP(w *ResponseWriter, r *Request) {
	target := r.Target
	raw := target
	if r.Method == "CONNECT" && !strings.HasPrefix(raw, "/") {
		raw = "http://" + raw
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		w.WriteHeader(400)
		w.WriteString("400 bad request-target\n")
		return
	}
	if r.Method == "CONNECT" && !strings.HasPrefix(target, "/") {
		u.Scheme = ""
	}
	hdr := make(nethttp.Header, r.Header.Len())
	for name, v := range r.Header.All() {
		k := textproto.CanonicalMIMEHeaderKey(name)
		if k == "Host" {
			continue
		}
		hdr[k] = append(hdr[k], strings.Clone(v))
	}
	req := &nethttp.Request{
		Method:        strings.Clone(r.Method),
		URL:           u,
		Proto:         r.Proto,
		ProtoMajor:    1,
		ProtoMinor:    r.ProtoMinor,
		Header:        hdr,
		ContentLength: int64(len(r.Body)),
		Host:          strings.Clone(r.Host),
		RequestURI:    strings.Clone(target),
		Close:         r.Close,
		Body:          nethttp.NoBody,
	}
	if r.chunked {
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
	}
	if len(r.Body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(bytes.Clone(r.Body)))
	}
	if a := r.RemoteAddr(); a != nil {
		req.RemoteAddr = a.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !w.ex.c.watchGone(w.ex, cancel) {
		cancel()
	}
	req = req.WithContext(ctx)
	sw := &shimWriter{w: w, hdr: nethttp.Header{}}
	a.h.ServeHTTP(sw, req)
	w.ex.c.watchGone(w.ex, nil)
	if !sw.hijacked {
		sw.commit(200)
	}
}

// noHead is an empty, non-nil raw head: a hijack that sends nothing.
var noHead = []byte{}

// shimWriter is the net/http.ResponseWriter the adapted handler sees.
type shimWriter struct {
	w        *ResponseWriter
	hdr      nethttp.Header
	status   int
	hijacked bool
}

func (s *shimWriter) Header() nethttp.Header { return s.hdr }

func (s *shimWriter) WriteHeader(code int) {
	if s.hijacked || s.status != 0 || code < 100 || code > 999 {
		return
	}
	if code < 200 {
		return // interim responses are not relayed
	}
	s.commit(code)
}

func (s *shimWriter) commit(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	for k, vs := range s.hdr {
		for _, v := range vs {
			s.w.header.Add(k, v)
		}
	}
	s.w.WriteHeader(code)
}

func (s *shimWriter) Write(p []byte) (int, error) {
	if s.hijacked {
		return 0, nethttp.ErrHijacked
	}
	if s.status == 0 {
		if s.hdr.Get("Content-Type") == "" && len(p) > 0 && s.hdr.Get("Transfer-Encoding") == "" {
			s.hdr.Set("Content-Type", nethttp.DetectContentType(p))
		}
		s.commit(200)
	}
	return s.w.Write(p)
}

// Flush implements http.Flusher.
func (s *shimWriter) Flush() { s.FlushError() }

// FlushError is Flush with its error, which http.ResponseController uses.
func (s *shimWriter) FlushError() error {
	if s.hijacked {
		return nethttp.ErrHijacked
	}
	s.commit(200)
	return s.w.Flush()
}

// Hijack implements http.Hijacker (see FromNetHTTP for what it supports).
// Nothing of the response is sent: the caller writes its own.
func (s *shimWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if s.hijacked {
		return nil, nil, nethttp.ErrHijacked
	}
	if s.status != 0 {
		return nil, nil, fmt.Errorf("%w: the response was started", ErrNotHijackable)
	}
	// An empty raw head: the hand-off writes no response of ours.
	s.w.rawHead = noHead
	hc := newHijackedConn()
	c, err := s.w.Hijack(hc)
	if err != nil {
		s.w.rawHead = nil
		return nil, nil, err
	}
	s.hijacked = true
	hc.mu.Lock()
	hc.c = c
	hc.mu.Unlock()
	return hc, bufio.NewReadWriter(bufio.NewReader(hc), bufio.NewWriter(hc)), nil
}
