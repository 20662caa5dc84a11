package http

import (
	"bufio"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

func TestResponseFraming(t *testing.T) {
	cases := []struct {
		name    string
		h       func(w *ResponseWriter, r *Request)
		method  string
		status  int
		body    string
		length  int64
		close   bool
		headers map[string]string
	}{
		{"default 200", func(w *ResponseWriter, r *Request) { w.WriteString("abc") }, "GET", 200, "abc", 3, false, nil},
		{"empty", func(w *ResponseWriter, r *Request) {}, "GET", 200, "", 0, false, nil},
		{"204 drops body", func(w *ResponseWriter, r *Request) { w.WriteHeader(204); w.WriteString("x") }, "GET", 204, "", 0, false, nil},
		{"304", func(w *ResponseWriter, r *Request) { w.WriteHeader(304) }, "GET", 304, "", 0, false, nil},
		{"declared length honoured", func(w *ResponseWriter, r *Request) {
			w.Header().Set("Content-Length", "3")
			w.WriteString("abc")
		}, "GET", 200, "abc", 3, false, nil},
		{"declared length wrong closes", func(w *ResponseWriter, r *Request) {
			w.Header().Set("Content-Length", "2")
			w.WriteString("abc")
		}, "GET", 200, "ab", 2, true, nil},
		{"HEAD with declared length", func(w *ResponseWriter, r *Request) {
			w.Header().Set("Content-Length", "100")
		}, "HEAD", 200, "", 100, false, nil},
		{"handler asks close", func(w *ResponseWriter, r *Request) {
			w.Header().Set("Connection", "close")
			w.WriteString("bye")
		}, "GET", 200, "bye", 3, true, nil},
		{"header injection dropped", func(w *ResponseWriter, r *Request) {
			w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=1")
			w.Header().Set("Bad Name", "v")
			w.Header().Set("X-Ok", "fine")
			w.Header().Add("X-Two", "1")
			w.Header().Add("X-Two", "2")
			w.Header().Del("X-Two")
		}, "GET", 200, "", 0, false, map[string]string{"X-Ok": "fine", "X-Evil": "", "Set-Cookie": "", "X-Two": ""}},
		{"user Transfer-Encoding ignored", func(w *ResponseWriter, r *Request) {
			w.Header().Set("Transfer-Encoding", "gzip")
			w.WriteString("abc")
		}, "GET", 200, "abc", 3, false, nil},
		{"status out of range ignored", func(w *ResponseWriter, r *Request) { w.WriteHeader(42); w.WriteString("x") }, "GET", 200, "x", 1, false, nil},
		{"write after flush is chunked", func(w *ResponseWriter, r *Request) {
			w.Flush()
			w.WriteString("later")
		}, "GET", 200, "later", -1, false, nil},
	}
	srv := NewServer(Settings{InlineHandlers: true}, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.handler = HandlerFunc(tc.h)
			fc := &fakeConn{}
			h := srv.open(fc)
			req := tc.method + " / HTTP/1.1\r\nHost: x\r\n\r\n"
			h.onData([]byte(req))
			out, _ := fc.take()
			r, err := nethttp.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), &nethttp.Request{Method: tc.method})
			if err != nil {
				t.Fatalf("%v: %q", err, out)
			}
			body, _ := io.ReadAll(r.Body)
			if r.StatusCode != tc.status || string(body) != tc.body || r.ContentLength != tc.length || r.Close != tc.close {
				t.Fatalf("got %d %q len %d close %v; want %d %q len %d close %v\n%s",
					r.StatusCode, body, r.ContentLength, r.Close, tc.status, tc.body, tc.length, tc.close, out)
			}
			for k, v := range tc.headers {
				if got := r.Header.Get(k); got != v {
					t.Fatalf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := NewServer(Settings{}, helloHandler).Settings()
	// Port 0 stays 0: a free port when listening (TestSettingsPortZeroIsFree).
	if s.Host != "0.0.0.0" || s.Port != 0 || s.Backend != DefaultBackend || s.IdleTimeout != 45*time.Second || s.ReadHeaderTimeout != 10*time.Second ||
		s.MaxHeaderBytes != 16<<10 || s.MaxHeaders != 100 || s.MaxURILength != 8<<10 || s.MaxBodyBytes != 1<<20 ||
		s.MaxConcurrentPerConn != 4 {
		t.Fatalf("defaults: %+v", s)
	}
}

// ServeConn runs the pipeline on a connection adopted elsewhere, bytes it
// had buffered included.
func TestServeConn(t *testing.T) {
	eng, err := poller.New("std", poller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := NewServer(Settings{Engine: eng}, echoPath)
	a, b := net.Pipe()
	defer b.Close()
	// The adopting handler consumes nothing, so the buffered request waits
	// for ServeConn however soon the engine offers it.
	c, err := eng.Adopt(a, []byte("GET /buffered HTTP/1.1\r\nHost: x\r\n\r\n"), holdHandler{})
	if err != nil {
		t.Fatal(err)
	}
	srv.ServeConn(c)
	b.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(b)
	if r := readResponses(t, br, "GET")[0]; bodyOf(r) != "GET /buffered" {
		t.Fatalf("got %q", bodyOf(r))
	}
	go io.WriteString(b, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := readResponses(t, br, "GET")[0]; bodyOf(r) != "GET /next" {
		t.Fatalf("got %q", bodyOf(r))
	}
}

// holdHandler consumes nothing: bytes wait for the next handler.
type holdHandler struct{}

func (holdHandler) OnOpen(poller.Conn)             {}
func (holdHandler) OnData(poller.Conn, []byte) int { return 0 }
func (holdHandler) OnClose(poller.Conn, error)     {}
