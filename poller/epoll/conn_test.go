//go:build linux

package epoll

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/poller"
)

// fh is a Handler from functions; nil Data consumes everything.
type fh struct {
	open  func(c poller.Conn)
	data  func(c poller.Conn, b []byte) int
	close func(c poller.Conn, err error)
}

func (h *fh) OnOpen(c poller.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *fh) OnData(c poller.Conn, b []byte) int {
	if h.data != nil {
		return h.data(c, b)
	}
	return len(b)
}

func (h *fh) OnClose(c poller.Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

// start runs an engine with opt on a loopback listener.
func start(t testing.TB, cfg poller.Config, opt Options, h poller.Handler) (*Engine, string) {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	e, err := New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Serve(ln, h)
	}()
	t.Cleanup(func() {
		e.Close()
		ln.Close()
		<-done
	})
	return e, ln.Addr().String()
}

func dialT(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// The per-connection footprint is the point of this backend: a change that
// grows conn past its size class shows up here before it shows up in RSS.
func TestConnSize(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("sizes checked on 64-bit targets")
	}
	if s := unsafe.Sizeof(conn{}); s > 96 {
		t.Fatalf("conn is %d bytes, want <= 96 (one 96-byte size class)", s)
	}
}

// An idle connection holds no input buffer: bytes that were consumed leave
// nothing behind, and a partial consumption keeps only the tail, in a small
// pooled buffer that goes away once consumed.
func TestCarryReleased(t *testing.T) {
	type step struct {
		send    string
		consume int // -1: all
		carry   int // bytes held after the step; 0 means no buffer at all
	}
	steps := []step{
		{"hello", -1, 0},
		{"abcdef", 2, 4},
		{"gh", 3, 3},
		{"", -1, 0}, // no input: consumed on a re-offer below
	}
	conns := make(chan *conn, 1)
	var mu sync.Mutex
	consume := -1
	offered := make(chan string, 8)
	_, addr := start(t, poller.Config{}, Options{}, &fh{
		open: func(c poller.Conn) { conns <- c.(*conn) },
		data: func(c poller.Conn, b []byte) int {
			mu.Lock()
			n := consume
			mu.Unlock()
			offered <- string(b)
			if n < 0 || n > len(b) {
				return len(b)
			}
			return n
		},
	})
	c := dialT(t, addr)
	sc := recv(t, conns, "OnOpen")
	for i, s := range steps {
		mu.Lock()
		consume = s.consume
		mu.Unlock()
		if s.send != "" {
			c.Write([]byte(s.send))
			recv(t, offered, "OnData")
		} else {
			// Re-offer what is held through SetHandler from outside.
			sc.SetHandler(sc.h)
			recv(t, offered, "re-offer")
		}
		// The loop updates c.in after OnData returns; read it on the
		// loop through a task round trip.
		got := carryLen(t, sc)
		if got != s.carry {
			t.Fatalf("step %d: carry %d bytes, want %d", i, got, s.carry)
		}
	}
}

// carryLen reads c's carry size on its loop (c.in is loop-owned).
func carryLen(t testing.TB, c *conn) int {
	ch := make(chan int, 1)
	c.loop.post(task{kind: taskFunc, fn: func() {
		n := 0
		if c.in != nil {
			n = len(*c.in)
		}
		ch <- n
	}})
	return recv(t, ch, "loop probe")
}

// streamGen produces a deterministic byte stream in 1 MiB blocks.
type streamGen struct {
	r   *rand.Rand
	buf []byte
}

func newStreamGen(seed uint64) *streamGen {
	return &streamGen{r: rand.New(rand.NewPCG(seed, 1)), buf: make([]byte, 1<<20)}
}

func (g *streamGen) next() []byte {
	for i := 0; i < len(g.buf); i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8; j++ {
			g.buf[i+j] = byte(v >> (8 * j))
		}
	}
	return g.buf
}

// TestBackpressureGiB streams 1 GiB (256 MiB under -race, 64 MiB with
// -short) at a connection whose handler starts paused: while paused the
// client must stall with the server's heap flat, and after ResumeRead every
// byte must arrive in order, through further pause/resume toggles.
func TestBackpressureGiB(t *testing.T) {
	total := int64(1 << 30)
	switch {
	case testing.Short():
		total = 64 << 20
	case raceEnabled:
		total = 256 << 20
	}
	var received atomic.Int64
	var crcMu sync.Mutex
	var crc uint32
	var pausedCalls atomic.Int32
	var paused atomic.Bool
	conns := make(chan poller.Conn, 1)
	done := make(chan struct{})
	_, addr := start(t, poller.Config{}, Options{LockOSThread: true}, &fh{
		open: func(c poller.Conn) {
			paused.Store(true)
			c.PauseRead()
			conns <- c
		},
		data: func(c poller.Conn, b []byte) int {
			if paused.Load() {
				pausedCalls.Add(1)
			}
			crcMu.Lock()
			crc = crc32.Update(crc, crc32.IEEETable, b)
			crcMu.Unlock()
			if received.Add(int64(len(b))) == total {
				close(done)
			}
			return len(b)
		},
	})
	c := dialT(t, addr)
	sc := recv(t, conns, "OnOpen")

	// The stream cycles through a random block of odd length, so no two
	// 1 MiB writes are alike; made before the baseline, as it is the
	// client's memory, not the server's.
	var block []byte
	for g := newStreamGen(42); len(block) < 4<<20; {
		block = append(block, g.next()...)
	}
	block = append(block, block[:13]...)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapInuse

	var sent atomic.Int64
	wantCRC := make(chan uint32, 1)
	go func() {
		var sum uint32
		off := 0
		for sent.Load() < total {
			b := block[off:min(off+1<<20, len(block))]
			off = (off + len(b)) % len(block)
			if rest := total - sent.Load(); rest < int64(len(b)) {
				b = b[:rest]
			}
			sum = crc32.Update(sum, crc32.IEEETable, b)
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			n, err := c.Write(b)
			sent.Add(int64(n))
			if err != nil {
				t.Errorf("client write: %v", err)
				break
			}
		}
		wantCRC <- sum
	}()

	// Stalled: no progress for 200 ms.
	last := int64(-1)
	for i := 0; i < 100; i++ {
		time.Sleep(200 * time.Millisecond)
		if n := sent.Load(); n == last {
			break
		} else {
			last = n
		}
	}
	if n := sent.Load(); n >= total || n > 64<<20 {
		t.Fatalf("client wrote %d bytes to a paused connection", n)
	}
	runtime.ReadMemStats(&ms)
	grow := int64(ms.HeapInuse) - int64(heap0)
	t.Logf("paused: client stalled after %d KiB, server heap in use grew %d KiB", sent.Load()>>10, grow>>10)
	if grow > 4<<20 {
		t.Fatalf("heap grew %d bytes while paused", grow)
	}
	if received.Load() != 0 {
		t.Fatalf("OnData got %d bytes while paused", received.Load())
	}

	// Resume, with pause/resume toggles from another goroutine meanwhile.
	start := time.Now()
	paused.Store(false)
	sc.ResumeRead()
	stopToggle := make(chan struct{})
	toggled := make(chan struct{})
	go func() {
		defer close(toggled)
		for i := 0; ; i++ {
			select {
			case <-stopToggle:
				return
			case <-time.After(20 * time.Millisecond):
			}
			sc.PauseRead()
			time.Sleep(2 * time.Millisecond)
			sc.ResumeRead()
		}
	}()
	select {
	case <-done:
	case <-time.After(50 * time.Second):
		t.Fatalf("received %d of %d bytes", received.Load(), total)
	}
	close(stopToggle)
	<-toggled
	el := time.Since(start)
	want := recv(t, wantCRC, "client checksum")
	crcMu.Lock()
	got := crc
	crcMu.Unlock()
	if got != want {
		t.Fatalf("checksum %08x, want %08x: bytes lost, duplicated or reordered", got, want)
	}
	if n := pausedCalls.Load(); n != 0 {
		t.Fatalf("%d OnData calls while paused", n)
	}
	t.Logf("%d MiB after resume in %v (%.0f MB/s)", total>>20, el, float64(total)/el.Seconds()/1e6)
}

// Writing on the hot path allocates nothing: Write straight to the socket,
// and a round trip through the loop (read into the shared buffer, OnData,
// echo) neither.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	conns := make(chan poller.Conn, 1)
	_, addr := start(t, poller.Config{Loops: 1}, Options{}, &fh{
		open: func(c poller.Conn) { conns <- c },
		data: func(c poller.Conn, b []byte) int {
			c.Write(b)
			return len(b)
		},
	})
	c := dialT(t, addr)
	sc := recv(t, conns, "OnOpen")
	msg := make([]byte, 64)
	got := make([]byte, 64)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // warm up: pools, loop buffer
	if a := testing.AllocsPerRun(200, roundTrip); a != 0 {
		t.Errorf("echo round trip: %v allocs", a)
	}
	write := func() {
		if _, err := sc.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if a := testing.AllocsPerRun(200, write); a != 0 {
		t.Errorf("Conn.Write: %v allocs", a)
	}
	bufs := [][]byte{msg[:10], msg[10:]}
	writev := func() {
		if _, err := sc.Writev(bufs); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(200, writev); a != 0 {
		t.Errorf("Conn.Writev: %v allocs", a)
	}
}

// PauseRead inside OnData stops delivery at once, even with bytes left in
// the same read; ResumeRead re-offers them in front of later input.
func TestPauseInsideOnData(t *testing.T) {
	conns := make(chan poller.Conn, 1)
	offers := make(chan string, 16)
	var first atomic.Bool
	first.Store(true)
	_, addr := start(t, poller.Config{}, Options{}, &fh{
		open: func(c poller.Conn) { conns <- c },
		data: func(c poller.Conn, b []byte) int {
			offers <- string(b)
			if first.CompareAndSwap(true, false) {
				c.PauseRead()
				return 1
			}
			return len(b)
		},
	})
	c := dialT(t, addr)
	sc := recv(t, conns, "OnOpen")
	c.Write([]byte("0123456789"))
	if s := recv(t, offers, "first OnData"); s != "0123456789" {
		t.Fatalf("first offer %q", s)
	}
	c.Write([]byte("abc"))
	select {
	case s := <-offers:
		t.Fatalf("OnData(%q) while paused", s)
	case <-time.After(100 * time.Millisecond):
	}
	sc.ResumeRead()
	var all string
	for len(all) < len("123456789abc") {
		all += recv(t, offers, "offers after resume")
	}
	if all != "123456789abc" {
		t.Fatalf("after resume got %q", all)
	}
}

// The table covers how a connection ends and what OnClose reports.
func TestCloseReasons(t *testing.T) {
	myErr := errors.New("mine")
	cases := []struct {
		name    string
		cfg     poller.Config
		onData  func(c poller.Conn, b []byte) int
		client  func(c *net.TCPConn)
		wantErr func(error) bool
		clientE bool // the client must read EOF
	}{
		{
			name:    "closeInsideOnData",
			onData:  func(c poller.Conn, b []byte) int { c.Close(); return len(b) },
			client:  func(c *net.TCPConn) { c.Write([]byte("x")) },
			wantErr: func(err error) bool { return err == nil },
			clientE: true,
		},
		{
			name:    "closeWithError",
			onData:  func(c poller.Conn, b []byte) int { c.CloseWithError(myErr); return len(b) },
			client:  func(c *net.TCPConn) { c.Write([]byte("x")) },
			wantErr: func(err error) bool { return errors.Is(err, myErr) },
			clientE: true,
		},
		{
			name:    "peerFIN",
			client:  func(c *net.TCPConn) { c.Write([]byte("x")); c.CloseWrite() },
			wantErr: func(err error) bool { return err == io.EOF },
			clientE: true,
		},
		{
			name:    "neverConsumes",
			cfg:     poller.Config{MaxInput: 100 << 10},
			onData:  func(poller.Conn, []byte) int { return 0 },
			client:  func(c *net.TCPConn) { go c.Write(make([]byte, 1<<20)) },
			wantErr: func(err error) bool { return errors.Is(err, poller.ErrInputLimit) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan error, 1)
			var calls atomic.Int32
			_, addr := start(t, tc.cfg, Options{}, &fh{
				data: func(c poller.Conn, b []byte) int {
					if calls.Add(1) > 1 && tc.name == "closeInsideOnData" {
						t.Error("OnData after Close")
					}
					if tc.onData != nil {
						return tc.onData(c, b)
					}
					return len(b)
				},
				close: func(_ poller.Conn, err error) { closed <- err },
			})
			c := dialT(t, addr)
			tc.client(c)
			if err := recv(t, closed, "OnClose"); !tc.wantErr(err) {
				t.Fatalf("OnClose(%v)", err)
			}
			if tc.clientE {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadAll(c); err != nil {
					t.Fatalf("client read: %v, want EOF", err)
				}
			}
		})
	}
}

// A peer that half-closes while output is still queued gets all of it
// before the connection closes with io.EOF.
func TestPeerFINDrainsQueue(t *testing.T) {
	const size = 24 << 20
	closed := make(chan error, 1)
	payload := newStreamGen(7).next()
	_, addr := start(t, poller.Config{MaxOutput: 2 * size}, Options{}, &fh{
		data: func(c poller.Conn, b []byte) int {
			for i := 0; i < size/len(payload); i++ {
				if _, err := c.Write(payload); err != nil {
					t.Errorf("write: %v", err)
				}
			}
			if c.Buffered() == 0 {
				t.Error("nothing queued: the test proves nothing")
			}
			return len(b)
		},
		close: func(_ poller.Conn, err error) { closed <- err },
	})
	c := dialT(t, addr)
	c.Write([]byte("go"))
	c.CloseWrite()
	time.Sleep(50 * time.Millisecond) // let the FIN arrive while output is queued
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != size {
		t.Fatalf("client read %d bytes, %v; want %d then EOF", n, err, size)
	}
	if err := recv(t, closed, "OnClose"); err != io.EOF {
		t.Fatalf("OnClose(%v), want io.EOF", err)
	}
}

// AdoptFD runs any connected socket; Adopt refuses what has no fd.
func TestAdoptFD(t *testing.T) {
	e, err := New(poller.Config{Loops: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	closed := make(chan error, 1)
	pc, err := e.AdoptFD(fds[0], []byte("pre:"), &fh{
		data: func(c poller.Conn, b []byte) int {
			c.Write([]byte(strings.ToUpper(string(b))))
			return len(b)
		},
		close: func(_ poller.Conn, err error) { closed <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	if pc.LocalAddr() == nil || pc.RemoteAddr() == nil {
		t.Fatal("nil address")
	}
	peer.Write([]byte("abc"))
	got := make([]byte, 7)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "PRE:ABC" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := pc.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	if err := recv(t, closed, "OnClose"); err != io.EOF {
		t.Fatalf("OnClose(%v), want io.EOF", err)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := e.Adopt(a, nil, &fh{}); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("Adopt(net.Pipe) = %v, want ErrNotSocket", err)
	}
}

// ServeReusePort spreads connections over per-loop sockets; each loop
// accepts its own.
func TestServeReusePort(t *testing.T) {
	e, err := New(poller.Config{Loops: 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	addr, err := e.ServeReusePort("127.0.0.1:0", &fh{data: func(c poller.Conn, b []byte) int {
		c.Write(b)
		return len(b)
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	for i := 0; i < n; i++ {
		c := dialT(t, addr.String())
		c.Write([]byte{byte(i)})
		var b [1]byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != byte(i) {
			t.Fatalf("conn %d: echo %v, %v", i, b, err)
		}
	}
	counts := make([]int, len(e.loops))
	for i, l := range e.loops {
		ch := make(chan int, 1)
		l.post(task{kind: taskFunc, fn: func() {
			k := 0
			for _, c := range l.conns {
				if c != nil {
					k++
				}
			}
			ch <- k
		}})
		counts[i] = recv(t, ch, "loop count")
	}
	if counts[0]+counts[1] != n || counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("connections per loop %v, want %d spread over both", counts, n)
	}
	e.Close()
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Fatal("reuseport sockets still accept after Close")
	}
}

// Closing the listener ends Serve (within the closure poll) and stops the
// loop accepting on its duplicate, while open connections keep running.
func TestServeListenerClosed(t *testing.T) {
	e, err := New(poller.Config{Loops: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- e.Serve(ln, &fh{data: func(c poller.Conn, b []byte) int {
			c.Write(b)
			return len(b)
		}})
	}()
	c := dialT(t, ln.Addr().String())
	echo := func(msg string) {
		t.Helper()
		c.Write([]byte(msg))
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, got, err)
		}
	}
	echo("accepted") // like any listener, closing it resets the backlog
	ln.Close()
	if err := recv(t, served, "Serve to return"); err == nil || errors.Is(err, poller.ErrClosed) {
		t.Fatalf("Serve after ln.Close = %v, want the listener's error", err)
	}
	// The loop drops its duplicate on its next turn.
	var refused bool
	for i := 0; i < 100 && !refused; i++ {
		d, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			refused = true
		} else {
			d.Close()
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !refused {
		t.Fatal("still accepting after the listener was closed")
	}
	echo("alive")
}

// TestSetHandlerInOnOpen: a handler chosen in OnOpen gets every byte and
// the close; the one that was replaced gets nothing, and no offer task is
// queued for the swap.
func TestSetHandlerInOnOpen(t *testing.T) {
	got := make(chan string, 4)
	closed := make(chan error, 1)
	posted := make(chan int, 1)
	next := &fh{
		data:  func(c poller.Conn, b []byte) int { got <- string(b); return len(b) },
		close: func(c poller.Conn, err error) { closed <- err },
	}
	first := &fh{
		open: func(c poller.Conn) {
			l := c.(*conn).loop
			l.mu.Lock()
			before := len(l.tasks)
			l.mu.Unlock()
			c.SetHandler(next)
			l.mu.Lock()
			posted <- len(l.tasks) - before
			l.mu.Unlock()
		},
		data:  func(c poller.Conn, b []byte) int { t.Errorf("replaced handler got %q", b); return len(b) },
		close: func(poller.Conn, error) { t.Error("replaced handler got OnClose") },
	}
	_, addr := start(t, poller.Config{}, Options{}, first)
	pc := dialT(t, addr)
	if n := recv(t, posted, "OnOpen"); n != 0 {
		t.Errorf("SetHandler in OnOpen queued %d tasks, want 0", n)
	}
	if _, err := pc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got, "OnData"); s != "hello" {
		t.Fatalf("new handler got %q", s)
	}
	pc.Close()
	recv(t, closed, "OnClose")
}
