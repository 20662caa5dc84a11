package http

import (
	"bytes"
	"io"
	nethttp "net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// FromNetHTTP runs a standard net/http handler on this server. Each
// request is turned into an *net/http.Request (headers canonicalized and
// copied, so the handler may keep them; Body reads a copy of our body) and
// the handler writes through a net/http.ResponseWriter shim that also
// implements http.Flusher. Like net/http it sniffs a Content-Type when the
// handler sets none.
//
// Not supported: http.Hijacker (use ResponseWriter.Hijack with a native
// handler), trailers, and http.ResponseController deadlines. The handler
// blocks as net/http handlers do, so it always runs on a goroutine; do not
// combine it with Settings.InlineHandlers.
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
	sw := &shimWriter{w: w, hdr: nethttp.Header{}}
	a.h.ServeHTTP(sw, req)
	sw.commit(200)
}

// shimWriter is the net/http.ResponseWriter the adapted handler sees.
type shimWriter struct {
	w      *ResponseWriter
	hdr    nethttp.Header
	status int
}

func (s *shimWriter) Header() nethttp.Header { return s.hdr }

func (s *shimWriter) WriteHeader(code int) {
	if s.status != 0 || code < 100 || code > 999 {
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
	if s.status == 0 {
		if s.hdr.Get("Content-Type") == "" && len(p) > 0 && s.hdr.Get("Transfer-Encoding") == "" {
			s.hdr.Set("Content-Type", nethttp.DetectContentType(p))
		}
		s.commit(200)
	}
	return s.w.Write(p)
}

func (s *shimWriter) Flush() {
	s.commit(200)
	s.w.Flush()
}
