package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws/poller"
)

// Errors of the ResponseWriter.
var (
	// ErrHandlerDone: the writer was used after its handler returned.
	ErrHandlerDone = errors.New("http: response writer used after the handler returned")
	// ErrNotHijackable: Hijack on a request that did not ask to switch
	// protocols (Connection: upgrade with Upgrade, or CONNECT), or twice.
	ErrNotHijackable = errors.New("http: connection cannot be hijacked for this request")
	// ErrConnClosed: the connection failed before the hand-off.
	ErrConnClosed = errors.New("http: connection closed")
	// ErrWriteTimeout: the client read nothing of the response for
	// Settings.WriteTimeout while the connection's output was at its cap,
	// so the server closed the connection. It matches ErrConnClosed too.
	ErrWriteTimeout = fmt.Errorf("%w: the client stopped reading (WriteTimeout)", ErrConnClosed)
)

// streamThreshold is the body size past which a response without a
// Content-Length starts streaming (chunked) instead of growing the buffer.
const streamThreshold = 256 << 10

// ResponseHeader holds the header fields a handler sets. The server adds
// Date, Content-Length or Transfer-Encoding, and Connection itself; a
// Content-Length set here is honoured (the body must match it, else the
// connection is closed after the response). Fields with CR, LF or NUL in
// them, or a name that is not a token, are dropped (header injection).
// Strings are kept until the response is written, so they may be views
// into the request.
type ResponseHeader struct {
	fields []HeaderField
}

// Set replaces every field named name by one with value.
func (h *ResponseHeader) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Add appends a field.
func (h *ResponseHeader) Add(name, value string) {
	if !validFieldName(name) || !validFieldValue(value) {
		return
	}
	h.fields = append(h.fields, HeaderField{name, value})
}

// Del removes every field named name.
func (h *ResponseHeader) Del(name string) {
	out := h.fields[:0]
	for _, f := range h.fields {
		if !equalFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear(h.fields[len(out):])
	h.fields = out
}

// Get returns the first value set for name, or "".
func (h *ResponseHeader) Get(name string) string {
	for _, f := range h.fields {
		if equalFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&clsToken == 0 {
			return false
		}
	}
	return true
}

func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&clsValue == 0 {
			return false
		}
	}
	return true
}

// ResponseWriter builds the response to one request. By default the body
// is buffered and sent with a Content-Length when the handler returns;
// Flush (or a body past 256 KiB) starts streaming it, chunked on HTTP/1.1
// when no Content-Length was set. The writer never touches the socket: the
// connection writes responses strictly in request order, and whole.
//
// Backpressure: on a handler goroutine, Write and Flush block while the
// connection's output queue is at its cap (the engine's
// poller.Config.MaxOutput) or while this response already holds 1 MiB
// behind earlier, unfinished responses, and go on as the peer reads. Once
// the bytes can never be sent (the peer is gone, the connection was
// closed) they fail with ErrConnClosed, and so does every later call. A
// handler on the event loop (NonBlocking) never blocks: what it writes is
// held, reading stops, and the connection writes it as the socket drains.
//
// A ResponseWriter is used by its handler's goroutine only and is invalid
// once the handler returns.
type ResponseWriter struct {
	ex     *exchange
	status int
	header ResponseHeader
	body   []byte

	isHead     bool
	minor      int
	closeAfter bool
	keepAlive  bool // HTTP/1.0 client asked keep-alive
	streaming  bool
	chunked    bool
	declared   int64 // Content-Length set by the handler, -1 if none
	written    int64
	finished   bool
	hijack     poller.Handler
	hijacking  bool          // Hijack was called: the exchange is recycled when the handler returns
	hijackOK   chan struct{} // capacity 1, kept across exchanges: the hand-off (or its failure) happened
	hijackErr  error
	err        error  // sticky: the response can no longer be delivered
	rawHead    []byte // complete head set by UpgradeWebSocket
	headBuf    []byte // rawHead's reusable storage, kept across exchanges
}

func (w *ResponseWriter) reset() {
	b := w.body[:0]
	hf := w.header.fields[:0]
	clear(w.header.fields)
	*w = ResponseWriter{body: b, header: ResponseHeader{fields: hf}, status: 200, declared: -1, headBuf: w.headBuf[:0], hijackOK: w.hijackOK}
}

// Header returns the response's header fields; changes after the first
// Flush have no effect.
func (w *ResponseWriter) Header() *ResponseHeader { return &w.header }

// WriteHeader sets the status code (default 200). Calls after the head was
// sent, or with a code outside 200-599 (or 101 for a hijack), are ignored.
func (w *ResponseWriter) WriteHeader(status int) {
	if w.streaming || w.finished || status < 100 || status > 599 || (status < 200 && status != 101) {
		return
	}
	w.status = status
}

// Status is the status code set so far.
func (w *ResponseWriter) Status() int { return w.status }

// Write appends to the body. For HEAD requests the bytes are counted (for
// the Content-Length) and dropped. A body past 256 KiB is streamed in
// pieces of that size (see the backpressure rule on ResponseWriter), so a
// large p is never copied whole. It fails with ErrHandlerDone after the
// handler returned and with ErrConnClosed when the connection cannot take
// the response any more; n is then what was accepted.
func (w *ResponseWriter) Write(p []byte) (int, error) { return writeBody(w, p) }

// WriteString is Write for a string.
func (w *ResponseWriter) WriteString(s string) (int, error) { return writeBody(w, s) }

func writeBody[T string | []byte](w *ResponseWriter, p T) (int, error) {
	if w.finished {
		return 0, ErrHandlerDone
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.isHead || !bodyAllowed(w.status) {
		w.written += int64(len(p))
		return len(p), nil
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), streamThreshold-len(w.body))
		w.body = append(w.body, p[:k]...)
		w.written += int64(k)
		n += k
		p = p[k:]
		if len(w.body) >= streamThreshold {
			if err := w.Flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Flush sends the head (if not yet sent) and the body written so far,
// switching the response to streaming: chunked on HTTP/1.1 without a
// Content-Length, delimited by closing the connection on HTTP/1.0. The
// bytes go out once every earlier response on the connection is written;
// Flush does not wait for that, but it blocks like Write when the
// connection has no room, and fails like it.
func (w *ResponseWriter) Flush() error {
	if w.finished {
		return ErrHandlerDone
	}
	if w.err != nil {
		return w.err
	}
	var out []byte
	if !w.streaming {
		w.streaming = true
		w.declared = declaredLength(&w.header)
		switch {
		case w.declared >= 0 || w.isHead || !bodyAllowed(w.status):
		case w.minor >= 1:
			w.chunked = true
		default:
			w.closeAfter = true
		}
		out = w.appendHead(make([]byte, 0, 256+len(w.body)+16), -1)
	}
	if len(w.body) > 0 {
		out = w.appendBody(out, w.body)
		w.body = w.body[:0]
	}
	if len(out) > 0 {
		if err := w.ex.c.push(w.ex, out); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

func (w *ResponseWriter) appendBody(out, p []byte) []byte {
	if w.chunked {
		out = strconv.AppendInt(out, int64(len(p)), 16)
		out = append(out, "\r\n"...)
		out = append(out, p...)
		return append(out, "\r\n"...)
	}
	return append(out, p...)
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

func declaredLength(h *ResponseHeader) int64 {
	v := h.Get("Content-Length")
	if v == "" {
		return -1
	}
	n, ok := parseContentLength(v)
	if !ok {
		h.Del("Content-Length")
		return -1
	}
	return n
}

// appendHead writes the status line and fields. length >= 0 adds a
// Content-Length the server computed.
func (w *ResponseWriter) appendHead(dst []byte, length int64) []byte {
	dst = append(dst, statusLine(w.status)...)
	dst = append(dst, "Date: "...)
	dst = appendDate(dst)
	dst = append(dst, "\r\n"...)
	userConn := false
	for _, f := range w.header.fields {
		switch len(f.Name) {
		case 10:
			if equalFold(f.Name, "connection") {
				if hasListToken(f.Value, "close") {
					w.closeAfter = true
				}
				if w.closeAfter && !hasListToken(f.Value, "close") {
					continue // ours says close
				}
				userConn = true
			}
		case 17:
			if equalFold(f.Name, "transfer-encoding") {
				continue // framing is the server's
			}
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	if length >= 0 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, length, 10)
		dst = append(dst, "\r\n"...)
	}
	if w.chunked {
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case w.status == 101 || userConn:
	case w.closeAfter:
		dst = append(dst, "Connection: close\r\n"...)
	case w.minor == 0 && w.keepAlive:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// finish turns what the handler left into the response's final bytes.
// out is the exchange's reusable buffer.
func (w *ResponseWriter) finish(out []byte) []byte {
	w.finished = true
	if w.rawHead != nil {
		return append(out, w.rawHead...)
	}
	if w.streaming {
		if w.chunked {
			if len(w.body) > 0 {
				out = w.appendBody(out, w.body)
			}
			out = append(out, "0\r\n\r\n"...)
		} else if !w.isHead {
			out = append(out, w.body...)
		}
		if w.declared >= 0 && w.declared != w.written {
			w.closeAfter = true
		}
		return out
	}
	var length int64 = -1
	if w.status >= 200 && w.status != 204 && w.status != 304 {
		d := declaredLength(&w.header)
		switch {
		case d < 0:
			length = w.written
		case d != w.written && !w.isHead:
			// The body contradicts the declared length; send what was
			// declared as framing would break, and drop the connection.
			w.closeAfter = true
		}
	}
	if w.status < 200 || w.status == 204 || w.status == 304 {
		w.header.Del("Content-Length")
	}
	out = w.appendHead(out, length)
	if !w.isHead && bodyAllowed(w.status) {
		out = append(out, w.body...)
	}
	return out
}

var statusLines [600]string

func init() {
	for c := 100; c < 600; c++ {
		t := nethttp.StatusText(c)
		if t == "" {
			t = "Status " + strconv.Itoa(c)
		}
		statusLines[c] = "HTTP/1.1 " + strconv.Itoa(c) + " " + t + "\r\n"
	}
}

func statusLine(code int) string {
	if code < 100 || code >= 600 {
		code = 500
	}
	return statusLines[code]
}

type dateEntry struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[dateEntry]

// appendDate appends the IMF-fixdate of now, formatted once per second.
func appendDate(dst []byte) []byte {
	now := time.Now()
	sec := now.Unix()
	d := dateCache.Load()
	if d == nil || d.sec != sec {
		d = &dateEntry{sec: sec, b: now.UTC().AppendFormat(make([]byte, 0, 29), nethttp.TimeFormat)}
		dateCache.Store(d)
	}
	return append(dst, d.b...)
}

// appendErrorResponse writes a complete, closing response for a refused
// request.
func appendErrorResponse(dst []byte, status int, msg string) []byte {
	dst = append(dst, statusLine(status)...)
	dst = append(dst, "Date: "...)
	dst = appendDate(dst)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(msg)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, msg...)
	return append(dst, '\n')
}
