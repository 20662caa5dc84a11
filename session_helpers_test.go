package rawws

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
	_ "github.com/rawws/rawws/poller/std"
)

// testBackends lists the backends every session test runs on.
func testBackends(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, b := range poller.Backends() {
		switch b {
		case "std", "netpoll", "epoll":
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatal("no poller backend registered")
	}
	return out
}

// forEachBackend runs f as a subtest on a fresh engine of every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, eng poller.Engine)) {
	for _, name := range testBackends(t) {
		t.Run(name, func(t *testing.T) {
			eng, err := poller.New(name, poller.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				eng.Shutdown(ctx)
			})
			f(t, eng)
		})
	}
}

// wsServer serves WebSocket upgrades on 127.0.0.1 with net/http and
// UpgradeHTTP; every new session is sent on sessions.
type wsServer struct {
	URL      string
	Addr     string
	sessions chan *Session
}

func startServer(t *testing.T, eng poller.Engine, opts UpgradeOptions) *wsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws := &wsServer{Addr: ln.Addr().String(), URL: "ws://" + ln.Addr().String() + "/", sessions: make(chan *Session, 16)}
	opts.Engine = eng
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		s, err := UpgradeHTTP(w, r, opts)
		if err != nil {
			return
		}
		ws.sessions <- s
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ws
}

// next returns the next server-side session.
func (ws *wsServer) next(t *testing.T) *Session {
	t.Helper()
	select {
	case s := <-ws.sessions:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
		return nil
	}
}

// rawClient is a hand-written WebSocket client over plain TCP, so tests can
// send any bytes and see exactly what the server writes.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	p  frame.Parser
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := nethttp.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != string(rhttp.AppendAcceptKey(nil, key)) {
		t.Fatalf("handshake: %v %v", resp.Status, resp.Header)
	}
	nc.SetReadDeadline(time.Time{})
	return c
}

// encodeFrame builds one frame's bytes; masked frames use a fixed key.
func encodeFrame(fin bool, op frame.Opcode, payload []byte, masked bool) []byte {
	h := frame.Header{Fin: fin, Opcode: op, Length: int64(len(payload)), Masked: masked, Key: [4]byte{1, 2, 3, 4}}
	out := frame.AppendHeader(nil, h)
	start := len(out)
	out = append(out, payload...)
	if masked {
		Mask(h.Key, 0, out[start:])
	}
	return out
}

// write sends raw bytes.
func (c *rawClient) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// send writes one masked frame, as a client must.
func (c *rawClient) send(fin bool, op frame.Opcode, payload []byte) {
	c.write(encodeFrame(fin, op, payload, true))
}

// readFrame reads one frame (unmasking it if the server masked it).
func (c *rawClient) readFrame(timeout time.Duration) (frame.Header, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		b, err := c.br.Peek(1)
		if err != nil {
			return frame.Header{}, nil, err
		}
		n, done, perr := c.p.Parse(b[:1])
		c.br.Discard(n)
		if perr != nil {
			return frame.Header{}, nil, perr
		}
		if done {
			break
		}
	}
	h := c.p.Header()
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		Mask(h.Key, 0, p)
	}
	return h, p, nil
}

// expectClose reads frames until a Close and checks its code; other frames
// are skipped.
func (c *rawClient) expectClose(code frame.CloseCode) {
	c.t.Helper()
	for i := 0; i < 1000; i++ {
		h, p, err := c.readFrame(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", code, err)
		}
		if h.Opcode != frame.OpClose {
			continue
		}
		if code == frame.CloseNoStatus {
			if len(p) != 0 {
				c.t.Fatalf("close payload %x, want none", p)
			}
			return
		}
		if len(p) < 2 || frame.CloseCode(binary.BigEndian.Uint16(p)) != code {
			c.t.Fatalf("close payload %x (%q), want code %d", p, p, code)
		}
		return
	}
	c.t.Fatal("no close frame")
}

// expectEOF checks the server closed (or half-closed) the connection.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	h, p, err := c.readFrame(5 * time.Second)
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("want EOF, got frame %+v %q err %v", h, p, err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || errors.Is(err, net.ErrClosed))
}

// recvFrame takes a frame from a channel-mode session.
func recvFrame(t *testing.T, s *Session) frame.Frame {
	t.Helper()
	select {
	case f, ok := <-s.Incoming():
		if !ok {
			t.Fatalf("incoming closed: %v", s.Err())
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
		return frame.Frame{}
	}
}

// waitDone waits for the session's end.
func waitDone(t *testing.T, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end")
	}
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeConn is a poller.Conn in memory for unit tests of the session's
// parsing and queueing: writes are recorded, nothing is real.
type fakeConn struct {
	mu       sync.Mutex
	h        poller.Handler
	out      []byte
	record   bool
	writes   int
	paused   bool
	finned   bool
	closed   bool
	buffered int
}

func (c *fakeConn) Write(b []byte) (int, error) { return c.Writev([][]byte{b}) }
func (c *fakeConn) Writev(bufs [][]byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.finned {
		return 0, poller.ErrClosed
	}
	n := 0
	for _, b := range bufs {
		if c.record {
			c.out = append(c.out, b...)
		}
		n += len(b)
	}
	c.writes++
	return n, nil
}
func (c *fakeConn) Flush(ctx context.Context) error { return nil }
func (c *fakeConn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buffered
}
func (c *fakeConn) PauseRead()                  { c.mu.Lock(); c.paused = true; c.mu.Unlock() }
func (c *fakeConn) ResumeRead()                 { c.mu.Lock(); c.paused = false; c.mu.Unlock() }
func (c *fakeConn) SetHandler(h poller.Handler) { c.h = h }
func (c *fakeConn) CloseWrite() error           { c.mu.Lock(); c.finned = true; c.mu.Unlock(); return nil }
func (c *fakeConn) Close() error                { return c.CloseWithError(nil) }
func (c *fakeConn) CloseWithError(err error) error {
	c.mu.Lock()
	was := c.closed
	c.closed = true
	c.mu.Unlock()
	if !was && c.h != nil {
		c.h.OnClose(c, err)
	}
	return nil
}
func (c *fakeConn) AfterFunc(d time.Duration, f func()) poller.Timer { return time.AfterFunc(d, f) }
func (c *fakeConn) LocalAddr() net.Addr                              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr                             { return &net.TCPAddr{} }
func (c *fakeConn) SetContext(v any)                                 {}
func (c *fakeConn) Context() any                                     { return nil }

// output returns and clears what was written.
func (c *fakeConn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.out
	c.out = nil
	return out
}

// parseFrames splits written bytes into frames (unmasking them).
func parseFrames(t *testing.T, b []byte) []frame.Frame {
	t.Helper()
	var p frame.Parser
	var out []frame.Frame
	for len(b) > 0 {
		n, done, err := p.Parse(b)
		if err != nil || !done {
			t.Fatalf("bad output at %x: %v", b, err)
		}
		b = b[n:]
		h := p.Header()
		pl := append([]byte(nil), b[:h.Length]...)
		if h.Masked {
			Mask(h.Key, 0, pl)
		}
		b = b[h.Length:]
		out = append(out, frame.Frame{Fin: h.Fin, Opcode: h.Opcode, Payload: pl})
	}
	return out
}
