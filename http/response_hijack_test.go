package http

import (
	"bufio"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// echoHandler echoes raw bytes: a stand-in for a WebSocket session.
type echoHandler struct{}

func (echoHandler) OnOpen(poller.Conn) {}
func (echoHandler) OnData(c poller.Conn, b []byte) int {
	c.Write(b)
	return len(b)
}
func (echoHandler) OnClose(poller.Conn, error) {}

const upgradeReq = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n"

func wsServer(t *testing.T, backend string, inline bool) string {
	mux := NewServeMux()
	mux.HandleFunc("/slow", func(w *ResponseWriter, r *Request) {
		time.Sleep(50 * time.Millisecond)
		w.WriteString("slow")
	})
	mux.HandleFunc("/ws", func(w *ResponseWriter, r *Request) {
		UpgradeWebSocket(w, r, []string{"superchat"}, nil, func(p string) poller.Handler {
			if p != "superchat" {
				t.Errorf("protocol %q", p)
			}
			return echoHandler{}
		})
	})
	mux.HandleFunc("/plain", func(w *ResponseWriter, r *Request) {
		if _, err := w.Hijack(echoHandler{}); err != ErrNotHijackable {
			t.Errorf("Hijack of a plain request: %v", err)
		}
		w.WriteString("plain")
	})
	addr, _ := startServer(t, backend, Settings{InlineHandlers: inline}, mux)
	return addr
}

func TestUpgradeWebSocket(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		for _, inline := range []bool{false, true} {
			addr := wsServer(t, backend, inline)
			c := dial(t, addr)
			br := bufio.NewReader(c)
			// A slow request first, then the upgrade with frame bytes
			// right behind it in the same write: the 101 comes after the
			// first response and the bytes reach the new handler.
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"+upgradeReq+"after-upgrade")
			if r := readResponses(t, br, "GET")[0]; bodyOf(r) != "slow" {
				t.Fatalf("first: %q", bodyOf(r))
			}
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("101 head: %q %v", head.String(), err)
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			h := head.String()
			if !strings.HasPrefix(h, "HTTP/1.1 101 ") || !strings.Contains(h, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") ||
				!strings.Contains(h, "Sec-WebSocket-Protocol: superchat\r\n") {
				t.Fatalf("101 head: %q", h)
			}
			buf := make([]byte, len("after-upgrade"))
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "after-upgrade" {
				t.Fatalf("echo: %q %v", buf, err)
			}
			io.WriteString(c, "more")
			buf = buf[:4]
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "more" {
				t.Fatalf("echo 2: %q %v", buf, err)
			}
			// A lone upgrade request (inline when the server runs handlers
			// inline) with bytes behind it.
			c2 := dial(t, addr)
			br2 := bufio.NewReader(c2)
			io.WriteString(c2, upgradeReq+"ping")
			r, err := nethttp.ReadResponse(br2, nil)
			if err != nil || r.StatusCode != 101 {
				t.Fatalf("lone upgrade: %v %v", r, err)
			}
			buf = buf[:4]
			if _, err := io.ReadFull(br2, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("lone echo: %q %v", buf, err)
			}
		}
	})
}

func TestUpgradeWebSocketRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr := wsServer(t, backend, false)
		cases := []struct {
			req    string
			status int
		}{
			{strings.Replace(upgradeReq, "Version: 13", "Version: 12", 1), 426},
			{strings.Replace(upgradeReq, "GET", "POST", 1), 405},
			{strings.Replace(upgradeReq, "dGhlIHNhbXBsZSBub25jZQ==", "short", 1), 400},
			{strings.Replace(upgradeReq, "Host: x\r\n", "Host: x\r\nOrigin: http://evil.example\r\n", 1), 403},
		}
		for _, tc := range cases {
			c := dial(t, addr)
			io.WriteString(c, tc.req)
			r := readResponses(t, bufio.NewReader(c), "GET")[0]
			if r.StatusCode != tc.status || !r.Close {
				t.Errorf("%q: %d close=%v, want %d", tc.req[:30], r.StatusCode, r.Close, tc.status)
			}
			if tc.status == 426 && r.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("426 without Sec-WebSocket-Version")
			}
		}
		// Hijack refuses a request that did not ask to upgrade.
		c := dial(t, addr)
		io.WriteString(c, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
		if r := readResponses(t, bufio.NewReader(c), "GET")[0]; bodyOf(r) != "plain" {
			t.Fatalf("plain: %q", bodyOf(r))
		}
	})
}
