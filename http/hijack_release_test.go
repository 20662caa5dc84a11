package http

import (
	"bufio"
	"io"
	nethttp "net/http"
	"testing"

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
				mux.HandleFunc("/ws", func(w *ResponseWriter, r *Request) {
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
			})
		}
	})
}
