package http

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Handler answers one request. It may run on a goroutine of its own (the
// default: it may block) or on the connection's event loop (see
// NonBlocking and Settings.InlineHandlers). Several handlers of one
// connection may run at the same time (Settings.MaxConcurrentPerConn);
// their responses still leave in request order.
//
// r and everything it points to, and w, are valid only until ServeHTTP
// returns.
type Handler interface {
	ServeHTTP(w *ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w *ResponseWriter, r *Request)

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w *ResponseWriter, r *Request) { f(w, r) }

// inliner is implemented by handlers that know, per request, whether they
// may run on the event loop.
type inliner interface {
	inlineFor(r *Request) bool
}

type nonBlocking struct{ h Handler }

func (n nonBlocking) ServeHTTP(w *ResponseWriter, r *Request) { n.h.ServeHTTP(w, r) }
func (n nonBlocking) inlineFor(*Request) bool                 { return true }

// NonBlocking marks h as never blocking (no I/O, no locks held long, no
// channel waits): the server then runs it on the connection's event loop,
// which for small handlers is several times faster than a goroutine per
// request. A marked handler that blocks stalls every connection of its
// loop.
func NonBlocking(h Handler) Handler { return nonBlocking{h} }

// ServeMux routes by path: a pattern without a trailing slash matches that
// path exactly; one ending in "/" matches every path under it. The longest
// matching pattern wins; no match answers 404. Routes may be added while
// serving. A route registered with HandleNonBlocking runs on the event loop.
type ServeMux struct {
	mu       sync.RWMutex
	exact    map[string]muxEntry
	prefixes []prefixEntry // longest first
}

type muxEntry struct {
	h      Handler
	inline bool
}

type prefixEntry struct {
	prefix string
	muxEntry
}

// NewServeMux returns an empty router.
func NewServeMux() *ServeMux { return &ServeMux{exact: map[string]muxEntry{}} }

// ErrBadRoute: a route Register refuses (a pattern that does not start
// with '/', or a nil handler).
var ErrBadRoute = errors.New("http: bad route")

// Register adds h for pattern (which must start with '/'); registering a
// pattern twice replaces the handler. A handler wrapped in NonBlocking
// runs on the event loop. It fails with ErrBadRoute, adding nothing, for a
// pattern without the leading '/' or a nil handler: use it for routes
// computed at run time.
func (m *ServeMux) Register(pattern string, h Handler) error {
	_, inline := h.(nonBlocking)
	return m.add(pattern, muxEntry{h, inline})
}

// Handle is Register for routes written in the program: a bad pattern or
// a nil handler is a programmer error, and Handle panics with it when the
// route is added (rather than answering 500 to every request for it).
func (m *ServeMux) Handle(pattern string, h Handler) {
	if err := m.Register(pattern, h); err != nil {
		panic(err)
	}
}

// HandleFunc registers f for pattern; it panics like Handle.
func (m *ServeMux) HandleFunc(pattern string, f func(w *ResponseWriter, r *Request)) {
	m.Handle(pattern, HandlerFunc(f))
}

// HandleNonBlocking registers h for pattern and runs it on the event loop
// (see NonBlocking); it panics like Handle.
func (m *ServeMux) HandleNonBlocking(pattern string, h Handler) {
	if err := m.add(pattern, muxEntry{h, true}); err != nil {
		panic(err)
	}
}

// nilHandler reports whether h can serve nothing: nil, or one of this
// package's wrappers around nil.
func nilHandler(h Handler) bool {
	switch v := h.(type) {
	case nil:
		return true
	case HandlerFunc:
		return v == nil
	case nonBlocking:
		return nilHandler(v.h)
	}
	return false
}

func (m *ServeMux) add(pattern string, e muxEntry) error {
	if !strings.HasPrefix(pattern, "/") {
		return fmt.Errorf("%w: pattern %q must start with '/'", ErrBadRoute, pattern)
	}
	if nilHandler(e.h) {
		return fmt.Errorf("%w: nil handler for %q", ErrBadRoute, pattern)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exact == nil {
		m.exact = map[string]muxEntry{}
	}
	if !strings.HasSuffix(pattern, "/") {
		m.exact[pattern] = e
		return nil
	}
	for i := range m.prefixes {
		if m.prefixes[i].prefix == pattern {
			m.prefixes[i].muxEntry = e
			return nil
		}
	}
	m.prefixes = append(m.prefixes, prefixEntry{pattern, e})
	for i := len(m.prefixes) - 1; i > 0 && len(m.prefixes[i].prefix) > len(m.prefixes[i-1].prefix); i-- {
		m.prefixes[i], m.prefixes[i-1] = m.prefixes[i-1], m.prefixes[i]
	}
	return nil
}

func (m *ServeMux) match(path string) (muxEntry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.exact[path]; ok {
		return e, true
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(path, p.prefix) {
			return p.muxEntry, true
		}
	}
	return muxEntry{}, false
}

// ServeHTTP dispatches r to the matching handler.
func (m *ServeMux) ServeHTTP(w *ResponseWriter, r *Request) {
	e, ok := m.match(r.Path)
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(404)
		w.WriteString("404 page not found\n")
		return
	}
	e.h.ServeHTTP(w, r)
}

func (m *ServeMux) inlineFor(r *Request) bool {
	e, ok := m.match(r.Path)
	return !ok || e.inline
}
