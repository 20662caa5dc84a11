package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// srvBackends are the backends the server tests run on; epoll and netpoll
// register themselves on Linux, std everywhere.
func srvBackends(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, b := range []string{"std", "epoll", "netpoll"} {
		for _, have := range poller.Backends() {
			if have == b {
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no poller backend registered")
	}
	return out
}

// eventBackends are the backends without a goroutine per connection.
func eventBackends(t *testing.T) []string {
	var out []string
	for _, b := range srvBackends(t) {
		if b != "std" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Skip("no event-loop backend on this OS")
	}
	return out
}

func listenLocal(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// wsClient is a blocking client written against the wire format only, so
// the tests do not depend on the code they check and start no goroutine.
type wsClient struct {
	c  net.Conn
	br *bufio.Reader
}

// upgradeRequest is a handshake for path; the key is fixed (the server
// only has to echo its hash).
func upgradeRequest(host, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// dialWS connects and upgrades, writing extra in the same write as the
// request (pipelined frames).
func dialWS(t testing.TB, addr, path string, extra []byte) *wsClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := &wsClient{c: c, br: bufio.NewReader(c)}
	req := append([]byte(upgradeRequest(addr, path)), extra...)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	status, err := cl.br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading status: %v", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("status %q", status)
	}
	for {
		line, err := cl.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading head: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return cl
}

// clientFrame encodes a masked client frame.
func clientFrame(op frame.Opcode, payload []byte) []byte {
	var key [4]byte
	rand.Read(key[:])
	b := frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: op, Masked: true, Key: key, Length: int64(len(payload))})
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i%4]
	}
	return b
}

func (c *wsClient) send(t testing.TB, op frame.Opcode, payload []byte) {
	t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write(clientFrame(op, payload)); err != nil {
		t.Fatalf("client write: %v", err)
	}
}

// read reads one server frame (unmasked, not fragmented in these tests).
func (c *wsClient) read(timeout time.Duration) (frame.Opcode, []byte, error) {
	c.c.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, err
	}
	return frame.Opcode(h[0] & 0x0f), p, nil
}

func (c *wsClient) expect(t testing.TB, op frame.Opcode, payload string) {
	t.Helper()
	gotOp, p, err := c.read(5 * time.Second)
	if err != nil {
		t.Fatalf("reading frame: %v", err)
	}
	if gotOp != op || string(p) != payload {
		t.Fatalf("got %v %q, want %v %q", gotOp, p, op, payload)
	}
}

// expectEOF reads until the server closes the connection, then closes
// the client's end, as a client does on the server's FIN.
func (c *wsClient) expectEOF(t testing.TB) {
	t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, c.br)
	c.c.Close()
	if err != nil {
		t.Fatalf("waiting for EOF after %d bytes: %v", n, err)
	}
}

func closePayload(code frame.CloseCode) []byte {
	p, _ := frame.AppendCloseReason(nil, frame.CloseReason{Code: code})
	return p
}

// httpGet sends a plain request on a fresh connection and returns the
// status line and body.
func httpGet(t testing.TB, addr, path string, extra string) (string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", path, addr, extra)
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("GET %s: %v (%q)", path, err, all)
	}
	head, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	status, _, _ := strings.Cut(string(head), "\r\n")
	return status, string(body)
}

// echoMessages echoes each message with its opcode.
var echoMessages = rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
	s.SendCopy(bgctx, frame.Frame{Fin: true, Opcode: op, Payload: p})
}}

// settle waits until f reports true or the timeout passes, and reports
// the last result.
func settle(timeout time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// openFDs counts this process's open descriptors (-1 where /proc is not).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
