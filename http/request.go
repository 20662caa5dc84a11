package http

import (
	"net"
	"net/url"
	"strings"
	"unsafe"

	"github.com/rawws/rawws/poller"
)

// Request is one parsed HTTP/1.x request.
//
// Ownership: every string in a Request (Method, Target, Path, RawQuery,
// Host, the Header fields) and Body are views into a buffer the server
// reuses for the next request. They are valid only while the handler runs;
// copy (strings.Clone, bytes.Clone) anything kept after it returns or
// handed to another goroutine that outlives it.
type Request struct {
	// Method is the request method as sent (case-sensitive: "GET").
	Method string
	// Target is the request-target exactly as sent (origin form "/a?b",
	// absolute form, authority form for CONNECT, or "*").
	Target string
	// Path is Target up to the first '?'; RawQuery what follows it.
	Path, RawQuery string
	// Proto is "HTTP/1.0" or "HTTP/1.1"; ProtoMinor is 0 or 1 (any other
	// HTTP/1.x minor is served as 1.1).
	Proto      string
	ProtoMinor int
	// Host is the Host field's value ("" for an HTTP/1.0 request without one).
	Host string
	// Header holds every field in arrival order.
	Header Header
	// ContentLength is the body's declared length; -1 for a chunked body.
	ContentLength int64
	// Body is the whole request body, already read (and de-chunked) before
	// the handler runs; nil when there is none. Bounded by
	// Settings.MaxBodyBytes.
	Body []byte
	// Close is true when the connection will be closed after this
	// response (the client asked, HTTP/1.0 without keep-alive, or the
	// server is shutting down).
	Close bool

	chunked        bool
	expectContinue bool
	upgrade        bool // Connection: upgrade with an Upgrade field
	keepAlive10    bool // HTTP/1.0 with Connection: keep-alive

	conn   poller.Conn // the connection, asked for the peer's address on demand
	remote net.Addr
}

// RemoteAddr is the peer's address (nil for a Request the server did not
// make). Like the rest of the Request it is valid only while the handler
// runs. It is looked up on the first call: most handlers never ask, and a
// WebSocket upgrade should not pay for an address object per connection.
func (r *Request) RemoteAddr() net.Addr {
	if r.remote == nil && r.conn != nil {
		r.remote = r.conn.RemoteAddr()
	}
	return r.remote
}

// b2s views b as a string without copying; the caller guarantees b is not
// changed while the string is in use (see Request's ownership rule).
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (s span) str(base []byte) string { return b2s(base[s.s:s.e]) }

// build fills r from the parser's spans over base (the head's bytes).
// fields is r's reusable backing array.
func (r *Request) build(p *parser, base []byte, fields []HeaderField) {
	r.Method = p.method.str(base)
	r.Target = p.target.str(base)
	r.Path, r.RawQuery = r.Target, ""
	if i := strings.IndexByte(r.Target, '?'); i >= 0 {
		r.Path, r.RawQuery = r.Target[:i], r.Target[i+1:]
	}
	if p.minor == 0 {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	} else {
		r.Proto, r.ProtoMinor = "HTTP/1.1", 1
	}
	fields = fields[:0]
	for _, f := range p.fields {
		fields = append(fields, HeaderField{f.name.str(base), f.value.str(base)})
	}
	r.Header.fields = fields
}

// frame applies RFC 9112's message-framing rules (§6) and the fields the
// server itself acts on (Host, Connection, Expect, Upgrade). It sets
// ContentLength, chunked, Close and the flags, or returns the refusal.
func (r *Request) frame(maxBody int64) *RequestError {
	r.ContentLength = 0
	r.Host = ""
	urlHost, ok := validTarget(r.Method, r.Target, r.Path)
	if !ok {
		return errBadTarget
	}
	var (
		hosts            int
		haveCL, haveTE   bool
		sawChunked       bool
		unsupportedCode  bool
		chunkedNotLast   bool
		connClose, keep  bool
		connUpgrade, upg bool
	)
	for i := range r.Header.fields {
		f := &r.Header.fields[i]
		switch len(f.Name) {
		case 4:
			if equalFold(f.Name, "host") {
				hosts++
				r.Host = f.Value
			}
		case 6:
			if equalFold(f.Name, "expect") {
				if !equalFold(f.Value, "100-continue") {
					return errExpectation
				}
				r.expectContinue = true
			}
		case 7:
			if equalFold(f.Name, "upgrade") {
				upg = true
			}
		case 10:
			if equalFold(f.Name, "connection") {
				v := f.Value
				for len(v) > 0 {
					var t string
					if j := strings.IndexByte(v, ','); j >= 0 {
						t, v = v[:j], v[j+1:]
					} else {
						t, v = v, ""
					}
					switch t = trimOWS(t); {
					case equalFold(t, "close"):
						connClose = true
					case equalFold(t, "keep-alive"):
						keep = true
					case equalFold(t, "upgrade"):
						connUpgrade = true
					}
				}
			}
		case 14:
			if equalFold(f.Name, "content-length") {
				n, ok := parseContentLength(f.Value)
				if !ok || (haveCL && n != r.ContentLength) {
					return errBadCL
				}
				haveCL, r.ContentLength = true, n
			}
		case 17:
			if equalFold(f.Name, "transfer-encoding") {
				haveTE = true
				v := f.Value
				for len(v) > 0 {
					var t string
					if j := strings.IndexByte(v, ','); j >= 0 {
						t, v = v[:j], v[j+1:]
					} else {
						t, v = v, ""
					}
					t = trimOWS(t)
					if t == "" {
						continue
					}
					if sawChunked {
						// Anything after chunked: chunked is not final.
						chunkedNotLast = true
					}
					if equalFold(t, "chunked") {
						sawChunked = true
					} else {
						unsupportedCode = true
					}
				}
			}
		}
	}
	if hosts > 1 {
		return errMultipleHost
	}
	if urlHost != "" {
		// RFC 9112 §3.2.2: the absolute form's authority overrides Host.
		r.Host = urlHost
	}
	if hosts == 0 && r.ProtoMinor >= 1 {
		return errMissingHost
	}
	if haveTE {
		switch {
		case haveCL:
			return errCLWithTE
		case r.ProtoMinor == 0, chunkedNotLast, !sawChunked:
			return errBadTE
		case unsupportedCode:
			return errUnsupportedTE
		}
		r.chunked = true
		r.ContentLength = -1
	}
	if r.ContentLength > maxBody {
		return errBodyTooLarge
	}
	if r.ProtoMinor == 0 {
		r.keepAlive10 = keep && !connClose
		r.Close = !r.keepAlive10
	} else {
		r.Close = connClose
	}
	r.upgrade = upg && connUpgrade
	if !r.chunked && r.ContentLength == 0 {
		r.expectContinue = false
	}
	return nil
}

// validTarget checks the request-target's form (RFC 9112 §3.2): origin
// form "/path?query" (percent-encoding in the path checked), "*", and the
// rare absolute and authority (CONNECT) forms, which are checked with
// net/url (they allocate; only proxies see them).
// It returns the authority of an absolute or authority form.
func validTarget(method, target, path string) (string, bool) {
	switch {
	case target[0] == '/':
		for i := 0; i < len(path); i++ {
			if path[i] == '%' {
				if i+2 >= len(path) || byteClass[path[i+1]]&clsHex == 0 || byteClass[path[i+2]]&clsHex == 0 {
					return "", false
				}
				i += 2
			}
		}
		return "", true
	case target == "*":
		return "", true
	}
	if method == "CONNECT" {
		target = "http://" + target
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return "", false
	}
	return u.Host, true
}

// parseContentLength accepts 1*DIGIT up to 2^62.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// rebase points every view of r that lies in old at the same bytes in nw,
// a copy of old.
func (r *Request) rebase(old, nw []byte) {
	rb := func(s string) string {
		if s == "" {
			return ""
		}
		off := uintptr(unsafe.Pointer(unsafe.StringData(s))) - uintptr(unsafe.Pointer(unsafe.SliceData(old)))
		if off >= uintptr(len(old)) {
			return s // not a view into old (a constant)
		}
		return b2s(nw[off : off+uintptr(len(s))])
	}
	r.Method, r.Target, r.Path, r.RawQuery, r.Host = rb(r.Method), rb(r.Target), rb(r.Path), rb(r.RawQuery), rb(r.Host)
	for i := range r.Header.fields {
		f := &r.Header.fields[i]
		f.Name, f.Value = rb(f.Name), rb(f.Value)
	}
}

// reset clears r for reuse, keeping the header array.
func (r *Request) reset() {
	clear(r.Header.fields) // drop views of buffers that may be gone
	f := r.Header.fields[:0]
	*r = Request{}
	r.Header.fields = f
}
