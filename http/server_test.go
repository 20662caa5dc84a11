package http

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/std"
)

// testBackends are the poller backends the server tests run on: std
// always, and netpoll/epoll when their packages are linked in.
func testBackends() []string {
	var out []string
	for _, b := range poller.Backends() {
		switch b {
		case "std", "netpoll", "epoll":
			out = append(out, b)
		}
	}
	return out
}

func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range testBackends() {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// startServer serves h on 127.0.0.1 on the named backend and returns its
// address; the server is shut down when the test ends.
func startServer(t *testing.T, backend string, set Settings, h Handler) (string, *Server) {
	t.Helper()
	eng, err := poller.New(backend, poller.Config{Loops: 2, Tick: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	set.Engine = eng
	srv := NewServer(set, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		select {
		case err := <-done:
			if err != ErrServerClosed {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
		eng.Close()
	})
	return ln.Addr().String(), srv
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponses reads n responses (to requests with the given methods)
// with net/http's client parser.
func readResponses(t *testing.T, br *bufio.Reader, methods ...string) []*nethttp.Response {
	t.Helper()
	var out []*nethttp.Response
	for _, m := range methods {
		resp, err := nethttp.ReadResponse(br, &nethttp.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", len(out), err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(out), err)
		}
		resp.Body = seekBody{bytes.NewReader(body)}
		out = append(out, resp)
	}
	return out
}

// bodyOf returns the body readResponses read (any number of times).
func bodyOf(r *nethttp.Response) string {
	rs, ok := r.Body.(io.ReadSeeker)
	if !ok {
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	rs.Seek(0, io.SeekStart)
	b, _ := io.ReadAll(rs)
	return string(b)
}

type seekBody struct{ *bytes.Reader }

func (seekBody) Close() error { return nil }

var echoPath = HandlerFunc(func(w *ResponseWriter, r *Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteString(r.Method + " " + r.Target)
	if len(r.Body) > 0 {
		w.WriteString(" body=")
		w.Write(r.Body)
	}
})

func TestServerBasic(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprint("inline=", inline), func(t *testing.T) {
				addr, _ := startServer(t, backend, Settings{InlineHandlers: inline}, echoPath)
				c := dial(t, addr)
				br := bufio.NewReader(c)
				io.WriteString(c, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n")
				r := readResponses(t, br, "GET")[0]
				if r.StatusCode != 200 || bodyOf(r) != "GET /a?b=1" || r.Header.Get("Date") == "" || r.ContentLength != 10 {
					t.Fatalf("got %d %q %v", r.StatusCode, bodyOf(r), r.Header)
				}
				io.WriteString(c, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
				r = readResponses(t, br, "POST")[0]
				if got := bodyOf(r); got != "POST /p body=hello" {
					t.Fatalf("got %q", got)
				}
			})
		}
	})
}

func TestServerPipelined100(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprint("inline=", inline), func(t *testing.T) {
				addr, _ := startServer(t, backend, Settings{InlineHandlers: inline}, echoPath)
				c := dial(t, addr)
				var req bytes.Buffer
				methods := make([]string, 100)
				for i := range 100 {
					fmt.Fprintf(&req, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
					methods[i] = "GET"
				}
				if _, err := c.Write(req.Bytes()); err != nil {
					t.Fatal(err)
				}
				rs := readResponses(t, bufio.NewReader(c), methods...)
				for i, r := range rs {
					if want := fmt.Sprintf("GET /%d", i); bodyOf(r) != want {
						t.Fatalf("response %d: %q, want %q", i, bodyOf(r), want)
					}
				}
			})
		}
	})
}

// Slow handlers early in a pipeline must not let later responses overtake.
func TestServerSlowHandlersKeepOrder(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		var running, peak atomic.Int32
		h := HandlerFunc(func(w *ResponseWriter, r *Request) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			defer running.Add(-1)
			if strings.HasPrefix(r.Path, "/slow") {
				time.Sleep(50 * time.Millisecond)
			}
			w.WriteString(r.Path)
		})
		addr, _ := startServer(t, backend, Settings{MaxConcurrentPerConn: 4}, h)
		c := dial(t, addr)
		paths := []string{"/slow1", "/f1", "/slow2", "/f2", "/f3", "/f4", "/slow3", "/f5", "/f6", "/f7"}
		var req bytes.Buffer
		for _, p := range paths {
			fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
		}
		c.Write(req.Bytes())
		methods := make([]string, len(paths))
		for i := range methods {
			methods[i] = "GET"
		}
		rs := readResponses(t, bufio.NewReader(c), methods...)
		for i, r := range rs {
			if bodyOf(r) != paths[i] {
				t.Fatalf("response %d: %q, want %q", i, bodyOf(r), paths[i])
			}
		}
		if p := peak.Load(); p < 2 || p > 4 {
			t.Fatalf("peak concurrent handlers %d, want 2..4", p)
		}
	})
}

func TestServerHEADAndHTTP10(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			w.WriteString("hello world")
		}))
		c := dial(t, addr)
		br := bufio.NewReader(c)
		io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rs := readResponses(t, br, "HEAD", "GET")
		if rs[0].ContentLength != 11 || bodyOf(rs[0]) != "" {
			t.Fatalf("HEAD: length %d body %q", rs[0].ContentLength, bodyOf(rs[0]))
		}
		if bodyOf(rs[1]) != "hello world" {
			t.Fatalf("GET after HEAD: %q", bodyOf(rs[1]))
		}
		// HTTP/1.0 with keep-alive stays open and says so.
		io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		r := readResponses(t, br, "GET")[0]
		if r.Header.Get("Connection") != "keep-alive" || r.Close {
			t.Fatalf("1.0 keep-alive: %v close=%v", r.Header, r.Close)
		}
		// HTTP/1.0 without it is closed after the response.
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
		r = readResponses(t, br, "GET")[0]
		if !r.Close {
			t.Fatal("1.0 without keep-alive: connection not marked close")
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after close: %q %v (the second request must be ignored)", rest, err)
		}
	})
}

func TestServerConnectionClose(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, echoPath)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
		rs := readResponses(t, br, "GET", "GET")
		if !rs[1].Close || bodyOf(rs[1]) != "GET /2" {
			t.Fatalf("second: close=%v %q", rs[1].Close, bodyOf(rs[1]))
		}
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Fatalf("bytes after Connection: close: %q", rest)
		}
	})
}

func TestServerExpectContinue(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, echoPath)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		io.WriteString(c, "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("interim: %q %v", line, err)
		}
		if l, _ := br.ReadString('\n'); l != "\r\n" {
			t.Fatalf("interim end: %q", l)
		}
		io.WriteString(c, "data")
		if r := readResponses(t, br, "PUT")[0]; bodyOf(r) != "PUT /u body=data" {
			t.Fatalf("got %q", bodyOf(r))
		}
	})
}

func TestServerChunkedRequestBody(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, echoPath)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		parts := []string{"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "lo\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"}
		for _, p := range parts {
			io.WriteString(c, p)
			time.Sleep(10 * time.Millisecond)
		}
		if r := readResponses(t, br, "POST")[0]; bodyOf(r) != "POST /c body=hello world" {
			t.Fatalf("got %q", bodyOf(r))
		}
	})
}

func TestServerStreamingResponse(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			w.WriteString("part1,")
			w.Flush()
			w.WriteString("part2")
		}))
		c := dial(t, addr)
		br := bufio.NewReader(c)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rs := readResponses(t, br, "GET", "GET")
		for _, r := range rs {
			if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" || bodyOf(r) != "part1,part2" {
				t.Fatalf("got %v %q", r.TransferEncoding, bodyOf(r))
			}
		}
	})
}

func TestServerSplitHead(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, echoPath)
		c := dial(t, addr)
		req := "GET /split HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"
		for i := 0; i < len(req); i += 3 {
			io.WriteString(c, req[i:min(i+3, len(req))])
			time.Sleep(time.Millisecond)
		}
		if r := readResponses(t, bufio.NewReader(c), "GET")[0]; bodyOf(r) != "GET /split" {
			t.Fatalf("got %q", bodyOf(r))
		}
	})
}

func TestServerIdleTimeout(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{IdleTimeout: 100 * time.Millisecond}, echoPath)
		c := dial(t, addr)
		br := bufio.NewReader(c)
		// Activity keeps it open past the timeout...
		for range 4 {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			readResponses(t, br, "GET")
			time.Sleep(50 * time.Millisecond)
		}
		// ...and silence closes it.
		start := time.Now()
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("read a byte from an idle connection")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("closed after %v", d)
		}
	})
}

func TestServerReadHeaderTimeout(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{ReadHeaderTimeout: 100 * time.Millisecond}, echoPath)
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		r := readResponses(t, bufio.NewReader(c), "GET")[0]
		if r.StatusCode != 408 || !r.Close {
			t.Fatalf("got %d close=%v", r.StatusCode, r.Close)
		}
	})
}

// Each defence answers with its status and, where RFC 9112 says so, closes.
func TestServerDefences(t *testing.T) {
	set := Settings{MaxHeaderBytes: 1024, MaxHeaders: 10, MaxURILength: 256, MaxBodyBytes: 100}
	long := strings.Repeat("a", 300)
	cases := []struct {
		name, req string
		status    int
	}{
		{"CL with TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"differing CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"invalid CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
		{"TE not chunked last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"TE only gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"TE unknown coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400},
		{"bare CR line end", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"control byte", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400},
		{"NUL in name", "GET / HTTP/1.1\r\nHost: x\r\nX\x00A: 1\r\n\r\n", 400},
		{"header block too large", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("b", 1100) + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 10) + "\r\n", 431},
		{"URI too long", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"body too large CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + strings.Repeat("x", 101), 413},
		{"body too large chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" + strings.Repeat("x", 101) + "\r\n0\r\n\r\n", 413},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},
		{"unknown Expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417},
	}
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, set, echoPath)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := dial(t, addr)
				io.WriteString(c, tc.req)
				br := bufio.NewReader(c)
				r := readResponses(t, br, "GET")[0]
				if r.StatusCode != tc.status || !r.Close {
					t.Fatalf("got %d close=%v, want %d and close", r.StatusCode, r.Close, tc.status)
				}
				if rest, err := io.ReadAll(br); len(rest) != 0 {
					t.Fatalf("after the error: %q %v", rest, err)
				}
			})
		}
	})
}

// A refused request in a pipeline is answered after the good ones before it.
func TestServerErrorAfterPipelined(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, echoPath)
		c := dial(t, addr)
		io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nX : y\r\n\r\n")
		rs := readResponses(t, bufio.NewReader(c), "GET", "GET", "GET")
		if bodyOf(rs[0]) != "GET /1" || bodyOf(rs[1]) != "GET /2" || rs[2].StatusCode != 400 {
			t.Fatalf("got %q %q %d", bodyOf(rs[0]), bodyOf(rs[1]), rs[2].StatusCode)
		}
	})
}

func TestServerHandlerPanic(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			if r.Path == "/panic" {
				panic("boom")
			}
			w.WriteString("ok")
		}))
		c := dial(t, addr)
		io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := readResponses(t, bufio.NewReader(c), "GET")[0]; r.StatusCode != 500 || !r.Close {
			t.Fatalf("got %d close=%v", r.StatusCode, r.Close)
		}
		// The server goes on.
		c2 := dial(t, addr)
		io.WriteString(c2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := readResponses(t, bufio.NewReader(c2), "GET")[0]; bodyOf(r) != "ok" {
			t.Fatalf("after panic: %q", bodyOf(r))
		}
	})
}

func TestServerShutdown(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		addr, srv := startServer(t, backend, Settings{}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			if r.Path == "/slow" {
				started <- struct{}{}
				<-release
			}
			w.WriteString("done")
		}))
		idle := dial(t, addr)
		busy := dial(t, addr)
		io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		readResponses(t, bufio.NewReader(idle), "GET")
		io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		<-started
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shut <- srv.Shutdown(ctx)
		}()
		// The idle connection is closed at once.
		idle.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := idle.Read(make([]byte, 1)); err == nil {
			t.Fatalf("idle connection still open (%d bytes)", n)
		}
		// New connections are refused.
		time.Sleep(20 * time.Millisecond)
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.SetReadDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("a connection after Shutdown was served (%d bytes)", n)
			}
			c.Close()
		}
		// The request in flight finishes, with Connection: close.
		close(release)
		r := readResponses(t, bufio.NewReader(busy), "GET")[0]
		if bodyOf(r) != "done" || !r.Close {
			t.Fatalf("in-flight: %q close=%v", bodyOf(r), r.Close)
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// Connections that fail in every way a peer can make them fail leave the
// server serving.
func TestServerSurvivesFailingConns(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			time.Sleep(5 * time.Millisecond)
			w.Write(bytes.Repeat([]byte("x"), 64<<10))
		}))
		for i := range 20 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			switch i % 4 {
			case 0: // reset mid-head
				io.WriteString(c, "GET / HTTP/1.1\r\nHo")
			case 1: // reset with a handler running and a large response pending
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
			case 2: // half-close after a request
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				c.(*net.TCPConn).CloseWrite()
			case 3: // garbage
				c.Write(bytes.Repeat([]byte{0}, 4096))
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := readResponses(t, bufio.NewReader(c), "GET")[0]; len(bodyOf(r)) != 64<<10 {
			t.Fatalf("after failures: %d bytes", len(bodyOf(r)))
		}
	})
}

// ListenAndServe with the default engine: serves, then Shutdown ends it.
func TestListenAndServeDefaultEngine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := NewServer(Settings{Host: "127.0.0.1", Port: port}, echoPath)
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	var addr net.Addr
	for range 200 {
		if addr = srv.Addr(); addr != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if addr == nil {
		t.Fatal("no address")
	}
	c := dial(t, addr.String())
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := readResponses(t, bufio.NewReader(c), "GET")[0]; bodyOf(r) != "GET /x" {
		t.Fatalf("got %q", bodyOf(r))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-done:
		if err != ErrServerClosed {
			t.Fatalf("ListenAndServe: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
}
