package http

import (
	"bufio"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/epoll" // every backend's hand-off
)

// ctxProbe answers each read with whether the connection still carries a
// context: after a hijack it must not, or the server's per-connection
// state (parser, queue, exchange) stays reachable for as long as the
// hijacked connection lives.
type ctxProbe struct{}

func (ctxProbe) OnOpen(poller.Conn) {}
func (ctxProbe) OnData(c poller.Conn, b []byte) int {
	if c.Context() == nil {
		c.Write([]byte("ctx=nil\n"))
	} else {
		c.Write([]byte("ctx=set\n"))
	}
	return len(b)
}
func (ctxProbe) OnClose(poller.Conn, error) {}

// TestHijackReleasesConnState checks that a hijacked connection keeps
// nothing of the HTTP server: no context on the connection, no entry in
// the server's connection set. Both the inline and the goroutine handler
// paths, and bytes sent right behind the upgrade request, which reach the
// new handler either way.
func TestHijackReleasesConnState(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		for _, tc := range []struct {
			name   string
			inline bool
			behind string // bytes written with the request
		}{
			{"goroutine", false, ""},
			{"inline", true, ""},
			{"goroutine/pipelined", false, "p"},
			{"inline/pipelined", true, "p"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mux := NewServeMux()
				hc := make(chan *hconn, 1)
				mux.HandleFunc("/ws", func(w *ResponseWriter, r *Request) {
					hc <- w.ex.c
					if _, err := UpgradeWebSocket(w, r, nil, nil, func(string) poller.Handler { return ctxProbe{} }); err != nil {
						t.Errorf("upgrade: %v", err)
					}
				})
				addr, srv := startServer(t, backend, Settings{InlineHandlers: tc.inline}, mux)
				c := dial(t, addr)
				br := bufio.NewReader(c)
				io.WriteString(c, upgradeReq+tc.behind)
				resp, err := nethttp.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 101 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if tc.behind == "" {
					io.WriteString(c, "x")
				}
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line != "ctx=nil\n" {
					t.Errorf("hijacked connection answered %q: the HTTP server's state is still attached", line)
				}
				srv.mu.Lock()
				n := len(srv.conns)
				srv.mu.Unlock()
				if n != 0 {
					t.Errorf("server still tracks %d connections after the hijack", n)
				}
				// Nothing holds the connection's state any more: it went
				// back to the pool for the next connection.
				h := <-hc
				for i := 0; h.refs.Load() != 0; i++ {
					if i == 500 {
						t.Fatalf("connection state still referenced %d times after the hijack", h.refs.Load())
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
	})
}

// Many connections upgrading at once, with bytes right behind each
// request, while their released states are reused by the next ones: each
// connection must get its own bytes back and nobody else's.
func TestHijackReuseConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
				mux := NewServeMux()
				mux.HandleFunc("/ws", func(w *ResponseWriter, r *Request) {
					if _, err := UpgradeWebSocket(w, r, nil, nil, func(string) poller.Handler { return echoHandler{} }); err != nil {
						t.Errorf("upgrade: %v", err)
					}
				})
				addr, _ := startServer(t, backend, Settings{InlineHandlers: inline}, mux)
				const conns, rounds = 16, 4
				var wg sync.WaitGroup
				for i := range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for j := range rounds {
							c, err := net.DialTimeout("tcp", addr, 2*time.Second)
							if err != nil {
								t.Error(err)
								return
							}
							c.SetDeadline(time.Now().Add(10 * time.Second))
							msg := fmt.Sprintf("conn %d round %d\n", i, j)
							io.WriteString(c, upgradeReq+msg)
							br := bufio.NewReader(c)
							resp, err := nethttp.ReadResponse(br, nil)
							if err != nil || resp.StatusCode != 101 {
								t.Errorf("upgrade answer %v %v", resp, err)
								c.Close()
								return
							}
							if line, err := br.ReadString('\n'); line != msg {
								t.Errorf("got %q (%v), want %q", line, err, msg)
							}
							c.Close()
						}
					}()
				}
				wg.Wait()
			})
		}
	})
}
