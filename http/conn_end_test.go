package http

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// Issue 18: every complete request that arrived before the client's FIN
// is answered, in order, and then the connection ends.

// halfCloseMux answers /healthz on the loop and /async on a goroutine,
// after a pause, so the FIN arrives while its answer is still owed.
func halfCloseMux() *ServeMux {
	mux := NewServeMux()
	mux.HandleNonBlocking("/healthz", HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString("ok\n")
	}))
	mux.HandleFunc("/async", func(w *ResponseWriter, r *Request) {
		time.Sleep(5 * time.Millisecond)
		w.WriteString("async " + r.RawQuery + "\n")
	})
	return mux
}

// sendThenHalfClose writes req, half-closes at once and returns every byte
// the server sent until it closed.
func sendThenHalfClose(addr, req string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

// bodies parses the responses in raw and returns their bodies.
func bodies(raw []byte) ([]string, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []string
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out, nil
		}
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return out, err
		}
		out = append(out, string(b))
	}
}

func TestHalfCloseAnswersRequest(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, halfCloseMux())
		const n = 100
		answered := 0
		var first error
		for i := range n {
			path, want := "/healthz", "ok\n"
			if i%2 == 1 {
				path, want = fmt.Sprintf("/async?%d", i), fmt.Sprintf("async %d\n", i)
			}
			raw, err := sendThenHalfClose(addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			got, perr := bodies(raw)
			switch {
			case err == nil && perr == nil && len(got) == 1 && got[0] == want:
				answered++
			case first == nil:
				first = fmt.Errorf("iteration %d: %q, read error %v, parse error %v", i, raw, err, perr)
			}
		}
		if answered != n {
			t.Fatalf("%d of %d half-closed requests answered; first failure: %v", answered, n, first)
		}
	})
}

func TestHalfClosePipelined(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, halfCloseMux())
		for i := range 20 {
			req := "GET /async?a HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET /async?c HTTP/1.1\r\nHost: x\r\n\r\n"
			want := []string{"async a\n", "ok\n", "async c\n"}
			// A request cut by the FIN is not owed an answer: the three
			// before it are, and nothing else comes.
			switch i % 3 {
			case 1:
				req += "GET /async?d HTTP/1.1\r\nHo"
			case 2:
				req += "POST /async?e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"
			}
			raw, err := sendThenHalfClose(addr, req)
			got, perr := bodies(raw)
			if err != nil || perr != nil || strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("iteration %d: got %q (read error %v, parse error %v), want %q", i, got, err, perr, want)
			}
		}
	})
}

// upgradeEcho hijacks to a handler that upper-cases what it gets and, at
// the peer's FIN, writes "bye" and half-closes: the hijacked connection's
// end is its own, never the HTTP layer's.
type upgradeEcho struct{}

func (upgradeEcho) OnOpen(poller.Conn) {}
func (upgradeEcho) OnData(c poller.Conn, b []byte) int {
	c.Write(bytes.ToUpper(b))
	return len(b)
}
func (upgradeEcho) OnClose(poller.Conn, error) {}
func (upgradeEcho) OnReadEOF(c poller.Conn) bool {
	c.Write([]byte("bye"))
	c.CloseWrite()
	return true
}

func TestHalfCloseAfterHijack(t *testing.T) {
	h := HandlerFunc(func(w *ResponseWriter, r *Request) {
		time.Sleep(5 * time.Millisecond) // the FIN may come before the hand-off
		w.WriteHeader(101)
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		w.Hijack(upgradeEcho{})
	})
	const up = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, h)
		for _, tc := range []struct{ name, req, after string }{
			{"FIN with the upgrade", up, ""},
			{"FIN after data", up + "abc", "ABC"},
		} {
			for i := range 10 {
				raw, err := sendThenHalfClose(addr, tc.req)
				s := string(raw)
				if err != nil || !strings.HasPrefix(s, "HTTP/1.1 101 ") || !strings.HasSuffix(s, "\r\n\r\n"+tc.after+"bye") {
					t.Fatalf("%s, iteration %d: got %q, %v; want the 101, %q, then bye", tc.name, i, s, err, tc.after)
				}
			}
		}
	})
}
