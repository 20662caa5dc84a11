package http

import (
	"bufio"
	"errors"
	"io"
	"testing"
)

func TestServeMux(t *testing.T) {
	mux := NewServeMux()
	reply := func(s string) Handler {
		return HandlerFunc(func(w *ResponseWriter, r *Request) { w.WriteString(s) })
	}
	mux.Handle("/", reply("root"))
	mux.Handle("/a", reply("exact a"))
	mux.Handle("/a/", reply("prefix a"))
	mux.HandleNonBlocking("/a/b/", reply("prefix a/b"))
	cases := []struct{ path, want string }{
		{"/", "root"}, {"/zzz", "root"}, {"/a", "exact a"}, {"/a/", "prefix a"},
		{"/a/x", "prefix a"}, {"/a/b/c", "prefix a/b"}, {"/a/b", "prefix a"},
	}
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, mux)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		for _, tc := range cases {
			io.WriteString(c, "GET "+tc.path+"?q HTTP/1.1\r\nHost: x\r\n\r\n")
			if got := bodyOf(readResponses(t, br, "GET")[0]); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
			}
		}
	})
	if !mux.inlineFor(&Request{Path: "/a/b/c"}) || mux.inlineFor(&Request{Path: "/a"}) {
		t.Error("inline routing wrong")
	}
	empty := NewServeMux()
	addr, _ := startServer(t, "std", Settings{}, empty)
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := readResponses(t, bufio.NewReader(c), "GET")[0]; r.StatusCode != 404 {
		t.Fatalf("empty mux: %d", r.StatusCode)
	}
}

func TestHeaderAccess(t *testing.T) {
	raw := []byte("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
	r, err := parseForDiff(raw)
	if err != nil {
		t.Fatal(err)
	}
	h := &r.Header
	if h.Len() != 5 || h.Get("X-A") != "1" || h.Get("x-A") != "1" || h.Join("X-A") != "1, 2" || !h.Has("upgrade") || h.Has("nope") {
		t.Fatalf("header access wrong: %v", h.Fields())
	}
	var vals []string
	for v := range h.Values("X-a") {
		vals = append(vals, v)
	}
	if len(vals) != 2 || vals[1] != "2" {
		t.Fatalf("Values: %q", vals)
	}
	n := 0
	for range h.All() {
		n++
	}
	if n != 5 || !r.upgrade {
		t.Fatalf("All: %d, upgrade %v", n, r.upgrade)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = h.Get("upgrade") }); allocs != 0 && !raceEnabled {
		t.Fatalf("Get allocates %v", allocs)
	}
}

// A route computed at run time is refused with an error by Register; the
// panicking forms are for literal routes, and a nil handler is caught when
// the route is added, not by a request to it.
func TestServeMuxRegisterErrors(t *testing.T) {
	mux := NewServeMux()
	ok := HandlerFunc(func(w *ResponseWriter, r *Request) {})
	for _, tc := range []struct {
		pattern string
		h       Handler
	}{{"noslash", ok}, {"", ok}, {"/nil", nil}, {"/nilfunc", HandlerFunc(nil)}, {"/nilnb", NonBlocking(nil)}} {
		if err := mux.Register(tc.pattern, tc.h); !errors.Is(err, ErrBadRoute) {
			t.Errorf("Register(%q, %v) = %v, want ErrBadRoute", tc.pattern, tc.h, err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q, %v) did not panic", tc.pattern, tc.h)
				}
			}()
			mux.Handle(tc.pattern, tc.h)
		}()
	}
	if err := mux.Register("/fine", NonBlocking(ok)); err != nil {
		t.Fatal(err)
	}
	if e, found := mux.match("/fine"); !found || !e.inline {
		t.Fatalf("Register(NonBlocking) did not make an inline route: %v %v", e, found)
	}
	if _, found := mux.match("/nil"); found {
		t.Fatal("a refused route was added")
	}
}
