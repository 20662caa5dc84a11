package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pongServer answers the handshake, then echoes each client ping as a
// pong and each close with a close, then closes: enough for the 2.1 and
// 7.3.3 cases to pass and for a data case to fail.
func pongServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			base64.StdEncoding.EncodeToString(h[:])+"\r\n\r\n")
		serveControl(c, rw.Reader)
	}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/"
}

// serveControl handles small masked frames only (payload < 126).
func serveControl(c net.Conn, r *bufio.Reader) {
	for {
		var h [6]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		n := int(h[1] & 0x7f)
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return
		}
		for i := range p {
			p[i] ^= h[2+i&3]
		}
		switch h[0] & 0x0f {
		case 0x9:
			_, _ = c.Write(append([]byte{0x8a, byte(n)}, p...))
		case 0x8:
			_, _ = c.Write(append([]byte{0x88, byte(n)}, p...))
			return
		}
	}
}

func TestExitStatus(t *testing.T) {
	url := pongServer(t)
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"all OK", []string{"-url", url, "-cases", "2.1,7.3.3"}, 0, "2 cases"},
		{"a case FAILED", []string{"-url", url, "-cases", "2.1,1.1.2", "-timeout", "300ms"}, 1, "1 FAILED"},
		{"list", []string{"-list", "-cases", "7.9"}, 0, "7.9.12"},
		{"unreachable", []string{"-url", "ws://127.0.0.1:1/"}, 2, ""},
		{"bad flag", []string{"-nosuchflag"}, 2, ""},
		{"no case", []string{"-url", url, "-cases", "99"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errOut); code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout lacks %q:\n%s", tt.out, out.String())
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-url", pongServer(t), "-cases", "2.1", "-json", path}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct{ ID, Verdict string }
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].ID != "2.1" || rep.Results[0].Verdict != "OK" {
		t.Errorf("json results = %+v", rep.Results)
	}
}
