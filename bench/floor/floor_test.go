package floor

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Every wait in this file is bounded by this (or less).
const ioTimeout = 10 * time.Second

var (
	buildOnce sync.Once
	buildDir  string
	buildLog  string
	buildErr  error
)

// build runs build.sh once for the whole test binary. It skips when gcc is
// missing; floor-uring's absence is judged by each caller.
func build(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath(cc()); err != nil {
		t.Skipf("no C compiler (%s): %v", cc(), err)
	}
	buildOnce.Do(func() {
		// One directory for the process, not t.TempDir: the binaries
		// outlive the first test that asked for them. TestMain removes it.
		buildDir, buildErr = os.MkdirTemp("", "floor-test")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("bash", "build.sh", buildDir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		buildErr = cmd.Run()
		buildLog = out.String()
	})
	if buildErr != nil {
		t.Fatalf("build.sh: %v\n%s", buildErr, buildLog)
	}
	return buildDir
}

func cc() string {
	if c := os.Getenv("CC"); c != "" {
		return c
	}
	return "gcc"
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// floors are the variants compare runs: single-threaded, and one thread
// per core (two threads here, enough for SO_REUSEPORT to spread over).
var floors = []struct {
	name, bin string
	threads   int
}{
	{"epoll", "floor-epoll", 1},
	{"epoll-mt", "floor-epoll", 2},
	{"uring", "floor-uring", 1},
	{"uring-mt", "floor-uring", 2},
}

// server is one running floor.
type server struct {
	addr   string
	exited chan struct{}
	err    error
}

func start(t *testing.T, bin string, threads int) *server {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-threads", fmt.Sprint(threads))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{exited: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		a, found := strings.CutPrefix(l, "listening on ")
		if !ok || !found {
			<-s.exited
			t.Fatalf("%s did not start: %q %v\n%s", bin, l, s.err, stderr.String())
		}
		s.addr = a
	case <-time.After(ioTimeout):
		t.Fatalf("%s: no 'listening on' within %v", bin, ioTimeout)
	}
	return s
}

// alive fails the test when the server died (a crash on some input).
func (s *server) alive(t *testing.T) {
	t.Helper()
	select {
	case <-s.exited:
		t.Fatalf("server exited: %v", s.err)
	default:
	}
}

func TestSelftest(t *testing.T) {
	dir := build(t)
	for _, b := range []string{"floor-epoll", "floor-uring"} {
		p := filepath.Join(dir, b)
		if _, err := os.Stat(p); err != nil {
			continue // judged in TestFloors
		}
		if out, err := exec.Command(p, "-selftest").CombinedOutput(); err != nil {
			t.Errorf("%s -selftest: %v\n%s", b, err, out)
		}
	}
}

func TestFloors(t *testing.T) {
	dir := build(t)
	for _, f := range floors {
		t.Run(f.name, func(t *testing.T) {
			bin := filepath.Join(dir, f.bin)
			if _, err := os.Stat(bin); err != nil {
				if strings.Contains(buildLog, "liburing") {
					t.Skipf("liburing-dev not installed: %s", strings.TrimSpace(buildLog))
				}
				t.Fatalf("%s was not built:\n%s", f.bin, buildLog)
			}
			s := start(t, bin, f.threads)
			t.Run("sizes", func(t *testing.T) { testSizes(t, s.addr) })
			t.Run("fragmented", func(t *testing.T) { testFragmented(t, s.addr) })
			t.Run("ping", func(t *testing.T) { testPing(t, s.addr) })
			t.Run("close", func(t *testing.T) { testClose(t, s.addr) })
			t.Run("raw", func(t *testing.T) { testRaw(t, s.addr) })
			t.Run("malformed", func(t *testing.T) { testMalformed(t, s) })
			t.Run("concurrent", func(t *testing.T) { testConcurrent(t, s.addr) })
			t.Run("slow reader", func(t *testing.T) { testSlowReader(t, s.addr) })
			t.Run("garbage", func(t *testing.T) { testGarbage(t, s) })
			s.alive(t)
		})
	}
}

func dial(t *testing.T, addr string, d *websocket.Dialer) *websocket.Conn {
	t.Helper()
	if d == nil {
		d = &websocket.Dialer{}
	}
	d.HandshakeTimeout = ioTimeout
	c, resp, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	// gorilla checked Sec-WebSocket-Accept; the rest of the 101 is ours.
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func echo(t *testing.T, c *websocket.Conn, typ int, p []byte) {
	t.Helper()
	if err := c.WriteMessage(typ, p); err != nil {
		t.Fatalf("write %d B: %v", len(p), err)
	}
	gt, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read %d B: %v", len(p), err)
	}
	if gt != typ || !bytes.Equal(got, p) {
		t.Fatalf("%d B message came back as type %d, %d B (equal: %v)", len(p), gt, len(got), bytes.Equal(got, p))
	}
}

// testSizes covers each length encoding at its edges: 7-bit (≤125), 16-bit
// (126…65535) and 64-bit (64 KiB and 1 MiB), the last two far larger than
// one read, so the frames span many reads and receive buffers.
func testSizes(t *testing.T, addr string) {
	c := dial(t, addr, nil)
	for _, n := range []int{0, 64, 125, 126, 65535, 64 << 10, 1 << 20} {
		echo(t, c, websocket.BinaryMessage, random(n))
	}
	echo(t, c, websocket.TextMessage, []byte("héllo"))
}

// testFragmented sends one message as many frames (gorilla flushes a
// frame per write buffer) with a ping between two of them: the echo must
// reassemble to the same bytes, and the pong must come.
func testFragmented(t *testing.T, addr string) {
	c := dial(t, addr, &websocket.Dialer{WriteBufferSize: 512})
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	p := random(20000)
	w, err := c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(p); i += 1000 {
		if _, err := w.Write(p[i : i+1000]); err != nil {
			t.Fatal(err)
		}
		if i == 10000 {
			if err := c.WriteControl(websocket.PingMessage, []byte("mid"), time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	typ, got, err := c.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(got, p) {
		t.Fatalf("fragmented echo: type %d, %d B, %v", typ, len(got), err)
	}
	select {
	case s := <-pong:
		if s != "mid" {
			t.Fatalf("pong %q, want mid", s)
		}
	default:
		t.Fatal("no pong for the ping between fragments")
	}
}

func testPing(t *testing.T, addr string) {
	c := dial(t, addr, nil)
	var pongs []string
	c.SetPongHandler(func(s string) error { pongs = append(pongs, s); return nil })
	for _, p := range []string{"", "are you there", strings.Repeat("x", 125)} {
		if err := c.WriteControl(websocket.PingMessage, []byte(p), time.Now().Add(ioTimeout)); err != nil {
			t.Fatal(err)
		}
	}
	// The message after the pings comes back after their pongs.
	echo(t, c, websocket.BinaryMessage, []byte("after"))
	want := []string{"", "are you there", strings.Repeat("x", 125)}
	if fmt.Sprint(pongs) != fmt.Sprint(want) {
		t.Fatalf("pongs %q, want %q", pongs, want)
	}
}

func testClose(t *testing.T, addr string) {
	c := dial(t, addr, nil)
	echo(t, c, websocket.BinaryMessage, []byte("before"))
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure || ce.Text != "bye" {
		t.Fatalf("after Close: %v, want the Close 1000 bye echoed", err)
	}
	// Then the server closes the TCP connection.
	expectClosed(t, c.UnderlyingConn(), nil)
}

// ---- raw frames: what gorilla would never send ----

// rawConn is a hand-made handshake on a plain TCP connection.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(ioTimeout))
	key := base64.StdEncoding.EncodeToString(random(16))
	req := "GET /x HTTP/1.1\r\nHost: " + addr + "\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The accept value computed here, independently of the C SHA-1.
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		t.Fatalf("handshake: %d accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return nc, br
}

// frame builds a client frame; masked selects the mask bit (clients must).
func frame(b0 byte, p []byte, masked bool) []byte {
	var h []byte
	n := len(p)
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch {
	case n < 126:
		h = []byte{b0, mbit | byte(n)}
	case n <= 0xffff:
		h = []byte{b0, mbit | 126, byte(n >> 8), byte(n)}
	default:
		h = []byte{b0, mbit | 127}
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	if !masked {
		return append(h, p...)
	}
	key := random(4)
	h = append(h, key...)
	for i, c := range p {
		h = append(h, c^key[i&3])
	}
	return h
}

// readFrame reads one server frame, which must not be masked.
func readFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		_, _ = io.ReadFull(br, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		_, _ = io.ReadFull(br, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 16<<20 {
		t.Fatalf("frame length %d", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("reading %d B of payload: %v", n, err)
	}
	return h[0], p
}

func expectFrame(t *testing.T, br *bufio.Reader, b0 byte, p []byte) {
	t.Helper()
	g0, gp := readFrame(t, br)
	if g0 != b0 || !bytes.Equal(gp, p) {
		t.Fatalf("got frame %#x with %d B, want %#x with %d B (payload equal: %v)", g0, len(gp), b0, len(p), bytes.Equal(gp, p))
	}
}

func testRaw(t *testing.T, addr string) {
	nc, br := rawConn(t, addr)

	// One frame dribbled in: the header a byte at a time, the payload in
	// three pieces, with pauses so the server sees separate reads.
	p := random(300)
	f := frame(0x82, p, true)
	for i := range 8 { // 2 + 2 length + 4 mask
		if _, err := nc.Write(f[i : i+1]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	for _, piece := range [][]byte{f[8:9], f[9:150], f[150:]} {
		if _, err := nc.Write(piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	expectFrame(t, br, 0x82, p)

	// Several frames in one write, one of each length encoding, a ping and
	// a pong among them: answered in order, the pong not at all.
	big := random(70000)
	var batch []byte
	batch = append(batch, frame(0x81, []byte("a"), true)...)
	batch = append(batch, frame(0x8a, []byte("unsolicited"), true)...)
	batch = append(batch, frame(0x89, []byte("p"), true)...)
	batch = append(batch, frame(0x82, p, true)...)
	batch = append(batch, frame(0x82, big, true)...)
	if _, err := nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	expectFrame(t, br, 0x81, []byte("a"))
	expectFrame(t, br, 0x8a, []byte("p"))
	expectFrame(t, br, 0x82, p)
	expectFrame(t, br, 0x82, big)

	// A fragmented message with a ping inside: echoed frame by frame.
	var frag []byte
	frag = append(frag, frame(0x02, []byte("abc"), true)...)
	frag = append(frag, frame(0x00, []byte("def"), true)...)
	frag = append(frag, frame(0x89, []byte("q"), true)...)
	frag = append(frag, frame(0x80, []byte("ghi"), true)...)
	if _, err := nc.Write(frag); err != nil {
		t.Fatal(err)
	}
	expectFrame(t, br, 0x02, []byte("abc"))
	expectFrame(t, br, 0x00, []byte("def"))
	expectFrame(t, br, 0x8a, []byte("q"))
	expectFrame(t, br, 0x80, []byte("ghi"))

	// A Close with no payload is answered with one, then the connection ends.
	if _, err := nc.Write(frame(0x88, nil, true)); err != nil {
		t.Fatal(err)
	}
	expectFrame(t, br, 0x88, nil)
	expectClosed(t, nc, br)
}

// expectClosed reads until the server ends the connection: EOF or a reset
// within the deadline, with nothing more (or only want) on the way.
func expectClosed(t *testing.T, nc net.Conn, r io.Reader) {
	t.Helper()
	if r == nil {
		r = nc
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("waiting for the server to close: %v", err)
	}
	if len(rest) > 0 {
		t.Fatalf("%d unexpected bytes before the close: %q", len(rest), rest[:min(len(rest), 64)])
	}
}

// testMalformed sends what RFC 6455 forbids; the server must close that
// connection without answering it, and keep serving the others.
func testMalformed(t *testing.T, s *server) {
	long := make([]byte, 8)
	binary.BigEndian.PutUint64(long, 1<<63)
	cases := []struct {
		name string
		data []byte
	}{
		{"unmasked", frame(0x82, []byte("hi"), false)},
		{"rsv1", frame(0xc2, []byte("hi"), true)},
		{"reserved opcode", frame(0x83, []byte("hi"), true)},
		{"long ping", frame(0x89, random(126), true)},
		{"fragmented ping", frame(0x09, []byte("hi"), true)},
		{"close of one byte", frame(0x88, []byte{3}, true)},
		{"lone continuation", frame(0x80, []byte("hi"), true)},
		{"message inside a message", frame(0x81, []byte("b"), true)},
		{"64-bit length with the top bit", append([]byte{0x82, 0xff}, append(long, 1, 2, 3, 4)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc, br := rawConn(t, s.addr)
			if c.name == "message inside a message" {
				// A valid first fragment, echoed, opens the message the
				// bad frame then breaks into.
				if _, err := nc.Write(frame(0x01, []byte("a"), true)); err != nil {
					t.Fatal(err)
				}
				expectFrame(t, br, 0x01, []byte("a"))
			}
			if _, err := nc.Write(c.data); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, nc, br)
		})
	}
	t.Run("bad handshake", func(t *testing.T) {
		for _, req := range []string{
			"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
			"POST / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
			"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n",
		} {
			nc, err := net.DialTimeout("tcp", s.addr, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(nc)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("%.30q: %v", req, err)
			}
			// A 400 is optional (the connection may be reset first); a
			// 101 is wrong.
			if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 400 ")) {
				t.Fatalf("%.30q answered %q", req, got)
			}
		}
	})
	s.alive(t)
	c := dial(t, s.addr, nil)
	echo(t, c, websocket.BinaryMessage, []byte("still here"))
}

// testConcurrent runs several connections at once, each a bounded number
// of round trips: with two threads they land on both listeners.
func testConcurrent(t *testing.T, addr string) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		c := dial(t, addr, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := random(64 + i*1000)
			for range 50 {
				if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
					errs <- err
					return
				}
				_, got, err := c.ReadMessage()
				if err != nil || !bytes.Equal(got, p) {
					errs <- fmt.Errorf("conn %d: %d B back, %v", i, len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testSlowReader fills the connection's socket buffers both ways before
// reading anything: the server's writes come up short, it must hold the
// rest, stop reading, and later deliver every byte in order.
func testSlowReader(t *testing.T, addr string) {
	nc, br := rawConn(t, addr)
	// A small receive buffer, so the server's output backs up sooner.
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(16 << 10)
	}
	const frames, size = 64, 64 << 10 // 4 MiB
	p := random(size)
	f := frame(0x82, p, true)
	wrote := make(chan error, 1)
	go func() {
		for range frames {
			if _, err := nc.Write(f); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	// Give the server time to run into the full socket.
	time.Sleep(200 * time.Millisecond)
	for i := range frames {
		g0, gp := readFrame(t, br)
		if g0 != 0x82 || !bytes.Equal(gp, p) {
			t.Fatalf("frame %d: %#x, %d B, equal %v", i, g0, len(gp), bytes.Equal(gp, p))
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// testGarbage throws random bytes at the server, before and after the
// handshake, on many connections at once, and hangs up on it in the middle
// of everything: whatever it makes of the bytes, it must not die, and it
// must still echo afterwards.
func testGarbage(t *testing.T, s *server) {
	// Connections are made here (rawConn may fail the test, which only
	// this goroutine may do); the goroutines only write and read.
	conns := make([]net.Conn, 64)
	for i := range conns {
		if i%2 == 0 {
			nc, err := net.DialTimeout("tcp", s.addr, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			conns[i] = nc
			continue
		}
		conns[i], _ = rawConn(t, s.addr)
	}
	var wg sync.WaitGroup
	for i, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			// A quarter start with a valid frame header, so the garbage
			// lands inside a payload or a later header.
			if i%4 == 1 {
				_, _ = nc.Write(frame(0x82, random(10), true)[:6])
			}
			for range 8 {
				if _, err := nc.Write(random(1 + i*37%3000)); err != nil {
					return // the server closed it: fine
				}
			}
			// Read a little of whatever comes, then hang up.
			_ = nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, _ = nc.Read(make([]byte, 512))
		}()
	}
	wg.Wait()
	s.alive(t)
	c := dial(t, s.addr, nil)
	echo(t, c, websocket.BinaryMessage, random(1000))
}
