// Package pollertest is the test suite every poller backend must pass, so
// callers never need to know which backend runs.
//
// A backend's test file calls Run with a constructor and the capabilities
// that legitimately differ between backends:
//
//	func TestSuite(t *testing.T) {
//		pollertest.Run(t, func(t testing.TB, cfg poller.Config) poller.Engine {
//			eng, err := poller.New("mybackend", cfg)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return eng
//		}, pollertest.Options{PauseStopsReading: true})
//	}
//
//	func BenchmarkEcho(b *testing.B) { pollertest.BenchmarkEcho(b, newEngine) }
//
// The constructor gets a Config with the zero fields already meaningful to
// the test (pass it on as is); the suite closes every engine it creates (Close
// may thus be called more than once and must be idempotent). Run re-executes
// the test binary as a client process for the many-connections test (and
// for the idle-memory measurement, enabled by RAWWS_BENCH_IDLE=1), so Run
// must be called from a top-level Test function, and that function must not
// do anything before Run that a client child process would mind.
package pollertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// NewEngine builds an engine of the backend under test.
type NewEngine func(t testing.TB, cfg poller.Config) poller.Engine

// Options describes what a backend can do where backends differ.
type Options struct {
	// PauseStopsReading: PauseRead stops reading the socket, so the peer's
	// writes block once the kernel buffers fill (std, epoll). When false
	// (netpoll) the suite instead checks that input piling up while paused
	// closes the connection with poller.ErrInputLimit.
	PauseStopsReading bool
	// AdoptsPipe: Adopt accepts an end of net.Pipe (std only).
	AdoptsPipe bool
	// ManyConns overrides the connection count of the many-connections
	// test (default 19,000 from a child process; 2,000 under -race; 500
	// with -short).
	ManyConns int
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, newEngine NewEngine, opts Options) {
	if runChild() {
		return
	}
	s := &suite{newEngine: newEngine, opts: opts}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Echo", s.testEcho},
		{"ReadSplits", s.testReadSplits},
		{"WriteOrdering", s.testWriteOrdering},
		{"Flush", s.testFlush},
		{"FlushStalled", s.testFlushStalled},
		{"OutputLimit", s.testOutputLimit},
		{"OversizedWriteIntoEmptyQueue", s.testOversizedWrite},
		{"CloseDuringWrite", s.testCloseDuringWrite},
		{"PeerReset", s.testPeerReset},
		{"HalfClose", s.testHalfClose},
		{"ReadEOF", s.testReadEOF},
		{"DataBeforeClose", s.testDataBeforeClose},
		{"PauseResume", s.testPauseResume},
		{"StalledHandler", s.testStalledHandler},
		{"SetHandler", s.testSetHandler},
		{"Timers", s.testTimers},
		{"IdleTimeout", s.testIdleTimeout},
		{"AdoptDial", s.testAdoptDial},
		{"ServeListenerClosed", s.testServeListenerClosed},
		{"Shutdown", s.testShutdown},
		{"ManyConns", s.testManyConns},
		{"IdleMemory", s.testIdleMemory},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	newEngine NewEngine
	opts      Options
}

// engine builds an engine and closes it when the test ends; violations of
// the Handler contract recorded meanwhile fail the test after that.
func (s *suite) engine(t testing.TB, cfg poller.Config) poller.Engine {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	eng := s.newEngine(t, cfg.WithDefaults())
	t.Cleanup(func() { eng.Close() })
	return eng
}

// serve runs eng on a fresh loopback listener and returns its address.
func serve(t testing.TB, eng poller.Engine, h poller.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng.Serve(ln, h)
	}()
	t.Cleanup(func() {
		ln.Close()
		eng.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after the engine closed")
		}
	})
	return ln.Addr().String()
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// H is a Handler built from functions; nil ones do nothing (nil Data
// consumes everything). It checks the contract every backend promises: OnOpen
// first and once, no overlapping calls on one connection, OnClose once and
// last. Violations are reported by Check.
type H struct {
	Open  func(c poller.Conn)
	Data  func(c poller.Conn, b []byte) int
	Close func(c poller.Conn, err error)
	// Handoff marks a handler installed with SetHandler: it gets no OnOpen.
	Handoff bool

	mu    sync.Mutex
	state map[poller.Conn]*connState
	bad   []string
}

type connState struct {
	busy    atomic.Int32
	opened  bool
	closed  bool
	readEOF bool
}

func (h *H) enter(c poller.Conn, ev string) *connState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == nil {
		h.state = make(map[poller.Conn]*connState)
	}
	st := h.state[c]
	if st == nil {
		st = &connState{}
		h.state[c] = st
	}
	if st.busy.Add(1) != 1 {
		h.bad = append(h.bad, ev+": concurrent handler call on one connection")
	}
	switch {
	case st.closed:
		h.bad = append(h.bad, ev+" after OnClose")
	case ev == "OnOpen" && st.opened:
		h.bad = append(h.bad, "OnOpen twice")
	case ev == "OnData" && !st.opened && !h.Handoff:
		h.bad = append(h.bad, "OnData before OnOpen")
	case ev == "OnData" && st.readEOF:
		h.bad = append(h.bad, "OnData after OnReadEOF")
	case ev == "OnReadEOF" && st.readEOF:
		h.bad = append(h.bad, "OnReadEOF twice")
	case ev == "OnReadEOF" && !st.opened && !h.Handoff:
		h.bad = append(h.bad, "OnReadEOF before OnOpen")
	}
	switch ev {
	case "OnOpen":
		st.opened = true
	case "OnClose":
		st.closed = true
	case "OnReadEOF":
		st.readEOF = true
	}
	return st
}

// Check reports contract violations seen so far.
func (h *H) Check(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bad {
		t.Error("handler contract:", b)
	}
}

func (h *H) OnOpen(c poller.Conn) {
	st := h.enter(c, "OnOpen")
	defer st.busy.Add(-1)
	if h.Open != nil {
		h.Open(c)
	}
}

func (h *H) OnData(c poller.Conn, b []byte) int {
	st := h.enter(c, "OnData")
	defer st.busy.Add(-1)
	if len(b) == 0 {
		h.mu.Lock()
		h.bad = append(h.bad, "OnData with no bytes")
		h.mu.Unlock()
	}
	if h.Data != nil {
		return h.Data(c, b)
	}
	return len(b)
}

func (h *H) OnClose(c poller.Conn, err error) {
	st := h.enter(c, "OnClose")
	defer st.busy.Add(-1)
	if h.Close != nil {
		h.Close(c, err)
	}
}

// checked registers h.Check to run when the test ends (after the engine
// closed, so every callback has happened).
func checked(t testing.TB, h *H) *H {
	t.Cleanup(func() { h.Check(t) })
	return h
}

// echoHandler writes back every byte it gets.
func echoHandler(t testing.TB) *H {
	return checked(t, &H{Data: func(c poller.Conn, b []byte) int {
		if _, err := c.Write(b); err != nil && !errors.Is(err, poller.ErrClosed) {
			panic(err)
		}
		return len(b)
	}})
}

// wait blocks until ch yields or d passes, failing the test then.
func wait[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// ctxT is a context that ends with a generous bound.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) testEcho(t *testing.T) {
	eng := s.engine(t, poller.Config{})
	addr := serve(t, eng, echoHandler(t))
	c := dial(t, addr)
	msg := pattern(1, 256<<10)
	go func() { c.Write(msg) }()
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

// testReadSplits sends length-prefixed records cut at arbitrary points; the
// handler consumes only whole records, so the backend must keep the tail of
// every read and offer it again in front of the next bytes.
func (s *suite) testReadSplits(t *testing.T) {
	cases := []struct {
		name     string
		maxWrite int // largest client write; writes are cut at random below it
		minRec   int // consume only once this many bytes of whole records are there
	}{
		{"bytewise", 1, 0},
		{"small", 7, 0},
		{"mixed", 3000, 0},
		{"batched", 5000, 40 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eng := s.engine(t, poller.Config{})
			h := checked(t, &H{Data: func(c poller.Conn, b []byte) int {
				n := 0
				for len(b)-n >= 2 {
					l := int(binary.BigEndian.Uint16(b[n:]))
					if len(b)-n < 2+l {
						break
					}
					n += 2 + l
				}
				if n < tc.minRec && n < len(b) {
					return 0 // wait for more, unconsumed bytes must stay
				}
				c.Write(b[:n])
				return n
			}})
			addr := serve(t, eng, h)
			c := dial(t, addr)
			c.SetNoDelay(true)
			var stream []byte
			r := rand.New(rand.NewPCG(7, uint64(tc.maxWrite)))
			total := 128 << 10
			if tc.maxWrite == 1 {
				total = 8 << 10
			}
			for len(stream) < total {
				l := r.IntN(600)
				rec := make([]byte, 2+l)
				binary.BigEndian.PutUint16(rec, uint16(l))
				for i := range l {
					rec[2+i] = byte(r.Uint32())
				}
				stream = append(stream, rec...)
			}
			if tc.minRec > 0 {
				// The last batch must reach minRec or be all there is.
				stream = append(stream, make([]byte, 2)...)
			}
			errc := make(chan error, 1)
			go func() {
				rest := stream
				for len(rest) > 0 {
					n := min(len(rest), 1+r.IntN(tc.maxWrite))
					if _, err := c.Write(rest[:n]); err != nil {
						errc <- err
						return
					}
					rest = rest[n:]
				}
				errc <- nil
			}()
			got := make([]byte, len(stream))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, stream) {
				i := 0
				for i < len(got) && got[i] == stream[i] {
					i++
				}
				t.Fatalf("echoed stream differs at byte %d of %d", i, len(stream))
			}
		})
	}
}

// testWriteOrdering has several goroutines write records concurrently
// (Write and Writev); each record must arrive whole and each writer's
// records in its order.
func (s *suite) testWriteOrdering(t *testing.T) {
	const writers, perWriter = 8, 400
	eng := s.engine(t, poller.Config{})
	h := checked(t, &H{Open: func(c poller.Conn) {
		for w := range writers {
			go func() {
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for seq := range perWriter {
					l := r.IntN(900)
					hdr := make([]byte, 7)
					binary.BigEndian.PutUint16(hdr, uint16(5+l))
					hdr[2] = byte(w)
					binary.BigEndian.PutUint32(hdr[3:], uint32(seq))
					body := bytes.Repeat([]byte{byte(w ^ seq)}, l)
					var err error
					if seq%2 == 0 {
						_, err = c.Writev([][]byte{hdr[:3], hdr[3:], body})
					} else {
						_, err = c.Write(append(hdr, body...))
					}
					if err != nil {
						panic(err)
					}
				}
			}()
		}
	}})
	addr := serve(t, eng, h)
	c := dial(t, addr)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	next := make([]int, writers)
	for n := 0; n < writers*perWriter; n++ {
		var hdr [7]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		l := int(binary.BigEndian.Uint16(hdr[:])) - 5
		w := int(hdr[2])
		seq := int(binary.BigEndian.Uint32(hdr[3:]))
		if w >= writers || l < 0 {
			t.Fatalf("record %d: garbled header %x", n, hdr)
		}
		if seq != next[w] {
			t.Fatalf("writer %d: got record %d, want %d", w, seq, next[w])
		}
		next[w]++
		body := make([]byte, l)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, bytes.Repeat([]byte{byte(w ^ seq)}, l)) {
			t.Fatalf("writer %d record %d: body interleaved with another write", w, seq)
		}
	}
}

// serverConn runs a server whose handler hands each new connection to the
// returned channel.
func (s *suite) serverConn(t *testing.T, cfg poller.Config, h *H) (string, <-chan poller.Conn, poller.Engine) {
	eng := s.engine(t, cfg)
	conns := make(chan poller.Conn, 16)
	open := h.Open
	h.Open = func(c poller.Conn) {
		if open != nil {
			open(c)
		}
		conns <- c
	}
	return serve(t, eng, checked(t, h)), conns, eng
}

// bigWrite is larger than loopback socket buffers can hold, so a peer that
// does not read leaves part of it queued in the backend.
const bigWrite = 24 << 20

func (s *suite) testFlush(t *testing.T) {
	cfg := poller.Config{MaxOutput: 2 * bigWrite}
	t.Run("empty", func(t *testing.T) {
		addr, conns, _ := s.serverConn(t, cfg, &H{})
		dial(t, addr)
		sc := wait(t, conns, 5*time.Second, "OnOpen")
		if err := sc.Flush(ctxT(t, time.Second)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("waitsForSocket", func(t *testing.T) {
		addr, conns, _ := s.serverConn(t, cfg, &H{})
		c := dial(t, addr)
		sc := wait(t, conns, 5*time.Second, "OnOpen")
		msg := pattern(2, bigWrite)
		if _, err := sc.Write(msg); err != nil {
			t.Fatal(err)
		}
		// Nobody reads: Flush must not claim the bytes are out.
		err := sc.Flush(ctxT(t, 200*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush with a stalled peer = %v, want context.DeadlineExceeded", err)
		}
		if sc.Buffered() == 0 {
			t.Fatal("Buffered() = 0 while the peer does not read")
		}
		got := make(chan []byte, 1)
		go func() {
			b := make([]byte, len(msg))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.ReadFull(c, b)
			got <- b
		}()
		if err := sc.Flush(ctxT(t, 20*time.Second)); err != nil {
			t.Fatalf("Flush = %v", err)
		}
		if n := sc.Buffered(); n != 0 {
			t.Fatalf("Buffered() = %d after Flush", n)
		}
		if !bytes.Equal(wait(t, got, 20*time.Second, "client read"), msg) {
			t.Fatal("client got different bytes")
		}
	})
	t.Run("afterClose", func(t *testing.T) {
		addr, conns, _ := s.serverConn(t, cfg, &H{})
		dial(t, addr)
		sc := wait(t, conns, 5*time.Second, "OnOpen")
		sc.Write(pattern(3, bigWrite))
		sc.Close()
		if err := sc.Flush(ctxT(t, 5*time.Second)); err != nil {
			t.Fatalf("Flush after a clean Close = %v, want nil", err)
		}
	})
	t.Run("afterCloseWrite", func(t *testing.T) {
		addr, conns, _ := s.serverConn(t, cfg, &H{})
		c := dial(t, addr)
		sc := wait(t, conns, 5*time.Second, "OnOpen")
		msg := pattern(4, 1<<20)
		sc.Write(msg)
		if err := sc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		go func() {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, c)
		}()
		if err := sc.Flush(ctxT(t, 20*time.Second)); err != nil {
			t.Fatalf("Flush after CloseWrite = %v", err)
		}
	})
	t.Run("failed", func(t *testing.T) {
		closed := make(chan error, 1)
		addr, conns, _ := s.serverConn(t, cfg, &H{Close: func(_ poller.Conn, err error) { closed <- err }})
		c := dial(t, addr)
		sc := wait(t, conns, 5*time.Second, "OnOpen")
		sc.Write(pattern(5, bigWrite))
		c.SetLinger(0)
		c.Close()
		if err := sc.Flush(ctxT(t, 10*time.Second)); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush after the peer reset = %v, want the connection's error", err)
		}
		wait(t, closed, 5*time.Second, "OnClose")
	})
}

func (s *suite) testOutputLimit(t *testing.T) {
	addr, conns, _ := s.serverConn(t, poller.Config{MaxOutput: 1 << 20}, &H{})
	dial(t, addr)
	sc := wait(t, conns, 5*time.Second, "OnOpen")
	var err error
	var total int
	for i := 0; i < 64 && err == nil; i++ {
		var n int
		n, err = sc.Write(make([]byte, 1<<20))
		total += n
	}
	if !errors.Is(err, poller.ErrOutputLimit) {
		t.Fatalf("writing 64 MiB to a stalled peer: err = %v, want ErrOutputLimit", err)
	}
	if b := sc.Buffered(); b > 1<<20 {
		t.Fatalf("Buffered() = %d beyond MaxOutput", b)
	}
	// A write past the limit is refused whole and queues nothing, unless
	// the queue drained into the kernel meanwhile (socket buffers grow on
	// loopback): a write into an empty queue is admitted whole.
	before := sc.Buffered()
	bufs := [][]byte{make([]byte, 1<<19), make([]byte, 1<<19), {1}}
	n, err := sc.Writev(bufs)
	switch {
	case err == nil && n != 1<<20+1:
		t.Fatalf("admitted Writev wrote %d of %d bytes", n, 1<<20+1)
	case err == nil && before > 0 && sc.Buffered() >= before+1<<20:
		t.Fatalf("Writev of 1 MiB admitted behind %d queued bytes, past MaxOutput", before)
	case err != nil && (n != 0 || !errors.Is(err, poller.ErrOutputLimit)):
		t.Fatalf("refused Writev = %d, %v; want 0, ErrOutputLimit", n, err)
	case err != nil && sc.Buffered() > before:
		t.Fatalf("refused Writev queued %d bytes", sc.Buffered()-before)
	}
}

// testOversizedWrite: one write larger than MaxOutput into an empty queue
// is admitted and arrives whole (a WebSocket frame of 16 MiB must be
// sendable with the default 16 MiB cap plus its header); a second write
// behind it is refused while the first is still queued.
func (s *suite) testOversizedWrite(t *testing.T) {
	const limit = 64 << 10
	addr, conns, _ := s.serverConn(t, poller.Config{MaxOutput: limit}, &H{})
	cc := dial(t, addr)
	sc := wait(t, conns, 5*time.Second, "OnOpen")
	// Larger than loopback socket buffers: with the peer not reading yet,
	// part of it stays queued, so the check below cannot race a writer
	// that drained the queue just after Buffered looked.
	big := make([]byte, bigWrite)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if n, err := sc.Write(big); err != nil || n != len(big) {
		t.Fatalf("oversized write into an empty queue = %d, %v; want it admitted", n, err)
	}
	if sc.Buffered() > 0 {
		if _, err := sc.Write(make([]byte, limit)); !errors.Is(err, poller.ErrOutputLimit) {
			t.Fatalf("write behind a queue past MaxOutput: err = %v, want ErrOutputLimit", err)
		}
	}
	cc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(big))
	if _, err := io.ReadFull(cc, got); err != nil {
		t.Fatalf("reading the oversized write: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("oversized write arrived altered")
	}
}

// testCloseDuringWrite closes while writers are busy: every Write returns
// nil or ErrClosed, nothing hangs, OnClose runs once with a nil error.
func (s *suite) testCloseDuringWrite(t *testing.T) {
	closed := make(chan error, 1)
	addr, conns, _ := s.serverConn(t, poller.Config{MaxOutput: 2 * bigWrite},
		&H{Close: func(_ poller.Conn, err error) { closed <- err }})
	c := dial(t, addr)
	sc := wait(t, conns, 5*time.Second, "OnOpen")
	go io.Copy(io.Discard, c)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := pattern(uint64(w), 64<<10)
			for {
				if _, err := sc.Write(buf); err != nil {
					if !errors.Is(err, poller.ErrClosed) && !errors.Is(err, poller.ErrOutputLimit) {
						errs <- err
					}
					if errors.Is(err, poller.ErrClosed) {
						return
					}
					runtime.Gosched()
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := sc.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wait(t, done, 5*time.Second, "writers to see ErrClosed")
	close(errs)
	for err := range errs {
		t.Errorf("Write during Close: %v", err)
	}
	if err := wait(t, closed, 5*time.Second, "OnClose"); err != nil {
		t.Fatalf("OnClose after Close got %v, want nil", err)
	}
	if _, err := sc.Write([]byte("x")); !errors.Is(err, poller.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	if err := sc.Flush(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("Flush after Close = %v", err)
	}
}

func (s *suite) testPeerReset(t *testing.T) {
	closed := make(chan error, 1)
	addr, conns, _ := s.serverConn(t, poller.Config{},
		&H{Close: func(_ poller.Conn, err error) { closed <- err }})
	c := dial(t, addr)
	wait(t, conns, 5*time.Second, "OnOpen")
	c.Write([]byte("bye"))
	c.SetLinger(0)
	c.Close()
	err := wait(t, closed, 5*time.Second, "OnClose after RST")
	t.Logf("OnClose error after RST: %v", err)
}

func (s *suite) testHalfClose(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		got := make(chan []byte, 8)
		closed := make(chan error, 1)
		addr, conns, _ := s.serverConn(t, poller.Config{}, &H{
			Data: func(_ poller.Conn, b []byte) int {
				got <- bytes.Clone(b)
				return len(b)
			},
			Close: func(_ poller.Conn, err error) { closed <- err },
		})
		c := dial(t, addr)
		sc := wait(t, conns, 5*time.Second, "OnOpen")
		sc.Write([]byte("hello"))
		if err := sc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Write([]byte("late")); !errors.Is(err, poller.ErrClosed) {
			t.Fatalf("Write after CloseWrite = %v, want ErrClosed", err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "hello" {
			t.Fatalf("client read %q, %v; want hello then EOF", b, err)
		}
		// The server still reads after its FIN.
		c.Write([]byte("world"))
		var in []byte
		for len(in) < 5 {
			in = append(in, wait(t, got, 5*time.Second, "data after CloseWrite")...)
		}
		if string(in) != "world" {
			t.Fatalf("server got %q", in)
		}
		c.Close()
		if err := wait(t, closed, 5*time.Second, "OnClose"); err != nil && err != io.EOF {
			t.Fatalf("OnClose after orderly close = %v, want nil or io.EOF", err)
		}
	})
	t.Run("client", func(t *testing.T) {
		closed := make(chan error, 1)
		addr, _, _ := s.serverConn(t, poller.Config{}, &H{
			Data: func(c poller.Conn, b []byte) int {
				c.Write(bytes.ToUpper(b))
				return len(b)
			},
			Close: func(_ poller.Conn, err error) { closed <- err },
		})
		c := dial(t, addr)
		c.Write([]byte("ping"))
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		// What the handler wrote before the FIN reached it is delivered,
		// then the server closes.
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "PING" {
			t.Fatalf("client read %q, %v; want PING then EOF", b, err)
		}
		if err := wait(t, closed, 5*time.Second, "OnClose"); err != nil && err != io.EOF {
			t.Fatalf("OnClose after the peer's FIN = %v, want nil or io.EOF", err)
		}
	})
}

func (s *suite) testPauseResume(t *testing.T) {
	t.Run("reoffer", func(t *testing.T) {
		// A handler that cannot take bytes now pauses and consumes nothing;
		// ResumeRead from elsewhere must offer them again without new input.
		var calls atomic.Int32
		got := make(chan string, 1)
		addr, _, _ := s.serverConn(t, poller.Config{}, &H{Data: func(c poller.Conn, b []byte) int {
			if calls.Add(1) == 1 {
				c.PauseRead()
				time.AfterFunc(50*time.Millisecond, c.ResumeRead)
				return 0
			}
			got <- string(b)
			return len(b)
		}})
		c := dial(t, addr)
		c.Write([]byte("hold me"))
		if s := wait(t, got, 5*time.Second, "OnData after ResumeRead"); s != "hold me" {
			t.Fatalf("offered %q after resume", s)
		}
	})
	if s.opts.PauseStopsReading {
		t.Run("backpressure", s.testBackpressure)
	} else {
		t.Run("inputLimit", s.testPausedInputLimit)
	}
}

// testBackpressure: while paused the server reads nothing, so the client's
// writes stall once kernel buffers are full; after ResumeRead every byte
// arrives in order.
func (s *suite) testBackpressure(t *testing.T) {
	var received atomic.Int64
	var mismatch atomic.Bool
	ref := pattern(9, 64<<10)
	addr, conns, _ := s.serverConn(t, poller.Config{}, &H{
		Open: func(c poller.Conn) { c.PauseRead() },
		Data: func(_ poller.Conn, b []byte) int {
			off := received.Load()
			for i, x := range b {
				if x != ref[(off+int64(i))%int64(len(ref))] {
					mismatch.Store(true)
				}
			}
			received.Add(int64(len(b)))
			return len(b)
		},
	})
	c := dial(t, addr)
	sc := wait(t, conns, 5*time.Second, "OnOpen")
	var sent atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, _ := c.Write(ref)
			sent.Add(int64(n))
			if n < len(ref) {
				// A partial write leaves the stream misaligned; finish it
				// after resume.
				<-stop
				c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				m, _ := c.Write(ref[n:])
				sent.Add(int64(m))
				return
			}
		}
	}()
	// Wait until the client is stuck: no progress for 300 ms.
	deadline := time.Now().Add(20 * time.Second)
	last := int64(-1)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		n := sent.Load()
		if n == last {
			break
		}
		last = n
	}
	if received.Load() != 0 {
		t.Fatalf("OnData got %d bytes while paused", received.Load())
	}
	if n := sent.Load(); n > 64<<20 {
		t.Fatalf("client wrote %d bytes to a paused connection without blocking", n)
	}
	t.Logf("client blocked after %d bytes", sent.Load())
	sc.ResumeRead()
	close(stop)
	wait(t, writerDone, 25*time.Second, "client writer")
	for i := 0; i < 2000 && received.Load() < sent.Load(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if r, w := received.Load(), sent.Load(); r != w {
		t.Fatalf("received %d of %d bytes after resume", r, w)
	}
	if mismatch.Load() {
		t.Fatal("bytes arrived out of order or corrupted")
	}
}

// testFlushStalled: FlushStalled gives up with ErrStalled on a peer that
// reads nothing, and waits for one that reads slowly however long it takes.
func (s *suite) testFlushStalled(t *testing.T) {
	const stall = 500 * time.Millisecond
	// fill writes until the kernel's buffers and the output queue are full:
	// the queue refuses writes five times in a row, 20 ms apart.
	fill := func(t *testing.T, c poller.Conn) {
		piece := make([]byte, 64<<10)
		refused := 0
		for i := 0; i < 4096 && refused < 5; i++ {
			_, err := c.Write(piece)
			switch {
			case err == nil:
				refused = 0
			case errors.Is(err, poller.ErrOutputLimit):
				refused++
				time.Sleep(20 * time.Millisecond)
			default:
				t.Fatal(err)
			}
		}
		if refused < 5 {
			t.Fatal("256 MiB written to a peer that reads nothing without filling the output queue")
		}
	}
	addr, conns, _ := s.serverConn(t, poller.Config{MaxOutput: 8 << 20}, &H{})
	t.Run("stopped", func(t *testing.T) {
		dial(t, addr) // never read from
		c := wait(t, conns, 5*time.Second, "OnOpen")
		fill(t, c)
		start := time.Now()
		err := poller.FlushStalled(context.Background(), c, stall)
		if !errors.Is(err, poller.ErrStalled) {
			t.Fatalf("FlushStalled = %v after %v, want ErrStalled", err, time.Since(start))
		}
	})
	t.Run("slow", func(t *testing.T) {
		pc := dial(t, addr)
		c := wait(t, conns, 5*time.Second, "OnOpen")
		fill(t, c)
		go func() {
			// 64 KiB every 10 ms: about 3 MiB per stall, more than the
			// kernel's buffers hold back before they let the queue move,
			// far less than loopback could carry; the 8 MiB queue takes
			// about three stall times to drain.
			buf := make([]byte, 64<<10)
			for {
				pc.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadFull(pc, buf); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		if err := poller.FlushStalled(ctx, c, stall); err != nil {
			t.Fatalf("FlushStalled with a reading peer: %v after %v", err, time.Since(start))
		}
		if n := c.Buffered(); n != 0 {
			t.Fatalf("%d bytes still queued after FlushStalled returned nil", n)
		}
		if d := time.Since(start); d < 2*stall {
			t.Fatalf("drained in %v, under two stall times: the test did not wait through stalls", d)
		}
	})
}

// testStalledHandler: a handler that is running (not paused) but slow to
// return, as a goroutine descheduled on a loaded machine is, loses nothing
// and is not closed while its peer sends several MaxInput at once: the
// bytes that came meanwhile are offered once it returns. (A correct peer
// sending one large message must never meet ErrInputLimit for the
// server's scheduling.)
func (s *suite) testStalledHandler(t *testing.T) {
	const limit = 256 << 10
	ref := pattern(11, 3*limit)
	var received atomic.Int64
	var mismatch atomic.Bool
	closed := make(chan error, 1)
	all := make(chan struct{})
	var calls atomic.Int32
	addr, _, _ := s.serverConn(t, poller.Config{MaxInput: limit}, &H{
		Data: func(c poller.Conn, b []byte) int {
			switch calls.Add(1) {
			case 1:
				// Refuse the first byte and take it back later: on netpoll
				// the resumed handler runs on a goroutine of its own while
				// netpoll's task goes on reading.
				c.PauseRead()
				time.AfterFunc(20*time.Millisecond, c.ResumeRead)
				return 0
			case 2:
				time.Sleep(300 * time.Millisecond)
			}
			off := received.Load()
			if !bytes.Equal(b, ref[off:off+int64(len(b))]) {
				mismatch.Store(true)
			}
			if received.Add(int64(len(b))) == int64(len(ref)) {
				close(all)
			}
			return len(b)
		},
		Close: func(_ poller.Conn, err error) { closed <- err },
	})
	c := dial(t, addr)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(ref[:1]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // resumed, inside the slow call
	if _, err := c.Write(ref[1:]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case err := <-closed:
		t.Fatalf("closed after %d of %d bytes: %v", received.Load(), len(ref), err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d bytes after 10 s", received.Load(), len(ref))
	}
	if mismatch.Load() {
		t.Fatal("bytes arrived out of order or corrupted")
	}
}

// testPausedInputLimit: a backend that keeps reading while paused must stop
// at MaxInput and close with ErrInputLimit.
func (s *suite) testPausedInputLimit(t *testing.T) {
	closed := make(chan error, 1)
	addr, _, _ := s.serverConn(t, poller.Config{MaxInput: 256 << 10}, &H{
		Open:  func(c poller.Conn) { c.PauseRead() },
		Data:  func(poller.Conn, []byte) int { panic("OnData while paused") },
		Close: func(_ poller.Conn, err error) { closed <- err },
	})
	c := dial(t, addr)
	go func() {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c.Write(make([]byte, 4<<20))
	}()
	if err := wait(t, closed, 10*time.Second, "OnClose"); !errors.Is(err, poller.ErrInputLimit) {
		t.Fatalf("OnClose = %v, want ErrInputLimit", err)
	}
}

func (s *suite) testSetHandler(t *testing.T) {
	t.Run("insideOnData", func(t *testing.T) {
		got := make(chan string, 4)
		b := checked(t, &H{Handoff: true, Data: func(_ poller.Conn, b []byte) int {
			got <- string(b)
			return len(b)
		}})
		addr, _, _ := s.serverConn(t, poller.Config{}, &H{Data: func(c poller.Conn, p []byte) int {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return 0
			}
			c.SetHandler(b)
			return i + 1
		}})
		c := dial(t, addr)
		c.Write([]byte("GET /upgrade\nframe-bytes"))
		// No more bytes come: the leftover must reach b right away.
		if s := wait(t, got, 5*time.Second, "leftover for the new handler"); s != "frame-bytes" {
			t.Fatalf("new handler got %q", s)
		}
		c.Write([]byte("more"))
		if s := wait(t, got, 5*time.Second, "later bytes"); s != "more" {
			t.Fatalf("new handler got %q", s)
		}
	})
	t.Run("fromOutside", func(t *testing.T) {
		got := make(chan string, 4)
		b := checked(t, &H{Handoff: true, Data: func(_ poller.Conn, b []byte) int {
			got <- string(b)
			return len(b)
		}})
		seen := make(chan poller.Conn, 1)
		addr, _, _ := s.serverConn(t, poller.Config{}, &H{Data: func(c poller.Conn, p []byte) int {
			select {
			case seen <- c:
			default:
			}
			return 0
		}})
		c := dial(t, addr)
		c.Write([]byte("kept"))
		sc := wait(t, seen, 5*time.Second, "first OnData")
		sc.SetHandler(b)
		if s := wait(t, got, 5*time.Second, "bytes for the new handler"); s != "kept" {
			t.Fatalf("new handler got %q", s)
		}
	})
	// A handler that left bytes unconsumed until it was ready (rawws's
	// session during its upgrade) installs itself again: the bytes held
	// back are offered at once, with no new input to prompt it.
	t.Run("sameHandlerFromOutside", func(t *testing.T) {
		got := make(chan string, 4)
		seen := make(chan poller.Conn, 1)
		var ready atomic.Bool
		h := checked(t, &H{Data: func(c poller.Conn, p []byte) int {
			if !ready.Load() {
				select {
				case seen <- c:
				default:
				}
				return 0
			}
			got <- string(p)
			return len(p)
		}})
		addr, _, _ := s.serverConn(t, poller.Config{}, h)
		c := dial(t, addr)
		c.Write([]byte("held"))
		sc := wait(t, seen, 5*time.Second, "first OnData")
		ready.Store(true)
		sc.SetHandler(h)
		if s := wait(t, got, 5*time.Second, "held bytes offered again"); s != "held" {
			t.Fatalf("handler got %q", s)
		}
	})
}

func (s *suite) testTimers(t *testing.T) {
	eng := s.engine(t, poller.Config{Tick: 10 * time.Millisecond})
	fired := make(chan int, 8)
	start := time.Now()
	eng.AfterFunc(30*time.Millisecond, func() { fired <- 1 })
	stopped := eng.AfterFunc(20*time.Millisecond, func() { fired <- 2 })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer = false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop = true")
	}
	if v := wait(t, fired, 5*time.Second, "timer"); v != 1 {
		t.Fatalf("timer %d fired", v)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("timer fired early, after %v", el)
	}
	late := eng.AfterFunc(0, func() { fired <- 3 })
	wait(t, fired, 5*time.Second, "zero-delay timer")
	if late.Stop() {
		t.Fatal("Stop after the timer ran = true")
	}
	select {
	case v := <-fired:
		t.Fatalf("timer %d fired unexpectedly", v)
	case <-time.After(50 * time.Millisecond):
	}
}

// testIdleTimeout closes an idle connection from a wheel timer and checks the
// close lands between the deadline and two ticks after it (plus slack for a
// loaded machine).
func (s *suite) testIdleTimeout(t *testing.T) {
	const tick = 10 * time.Millisecond
	const d = 150 * time.Millisecond
	var opened atomic.Int64
	closed := make(chan time.Duration, 1)
	addr, _, _ := s.serverConn(t, poller.Config{Tick: tick}, &H{
		Open: func(c poller.Conn) {
			opened.Store(time.Now().UnixNano())
			c.AfterFunc(d, func() { c.Close() })
		},
		Close: func(_ poller.Conn, err error) {
			closed <- time.Duration(time.Now().UnixNano() - opened.Load())
		},
	})
	c := dial(t, addr)
	el := wait(t, closed, 10*time.Second, "idle close")
	if el < d {
		t.Fatalf("closed after %v, before the %v deadline", el, d)
	}
	if slack := 2*tick + time.Second; el > d+slack {
		t.Fatalf("closed after %v, more than %v past the deadline", el, slack)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("client read data from a closed connection")
	}
}

func (s *suite) testAdoptDial(t *testing.T) {
	t.Run("adoptBuffered", func(t *testing.T) {
		eng := s.engine(t, poller.Config{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c := dial(t, ln.Addr().String())
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 4)
		h := checked(t, &H{Data: func(c poller.Conn, b []byte) int {
			got <- string(b)
			return len(b)
		}})
		buf := []byte("already-read|")
		pc, err := eng.Adopt(nc, buf, h)
		if err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXXXXXXXXX") // the engine must have copied them
		if pc.LocalAddr() == nil || pc.RemoteAddr() == nil {
			t.Fatal("nil address on an adopted connection")
		}
		if pc.RemoteAddr().String() != c.LocalAddr().String() || pc.LocalAddr().String() != c.RemoteAddr().String() {
			t.Fatalf("addresses %v→%v, want %v→%v", pc.RemoteAddr(), pc.LocalAddr(), c.LocalAddr(), c.RemoteAddr())
		}
		pc.SetContext(42)
		if pc.Context() != 42 {
			t.Fatal("Context lost")
		}
		c.Write([]byte("then-socket"))
		var all string
		for len(all) < len("already-read|then-socket") {
			all += wait(t, got, 5*time.Second, "adopted data")
		}
		if all != "already-read|then-socket" {
			t.Fatalf("got %q", all)
		}
	})
	t.Run("dial", func(t *testing.T) {
		srv := s.engine(t, poller.Config{})
		addr := serve(t, srv, echoHandler(t))
		eng := s.engine(t, poller.Config{})
		got := make(chan string, 4)
		h := checked(t, &H{Data: func(c poller.Conn, b []byte) int {
			got <- string(b)
			return len(b)
		}})
		pc, err := eng.Dial(ctxT(t, 5*time.Second), "tcp", addr, h)
		if err != nil {
			t.Fatal(err)
		}
		if pc.LocalAddr() == nil || pc.RemoteAddr().String() != addr {
			t.Fatalf("dialed conn addresses %v→%v", pc.LocalAddr(), pc.RemoteAddr())
		}
		pc.Write([]byte("echo me"))
		var all string
		for len(all) < 7 {
			all += wait(t, got, 5*time.Second, "echo")
		}
		if all != "echo me" {
			t.Fatalf("got %q", all)
		}
		if _, err := eng.Dial(ctxT(t, 5*time.Second), "tcp", "127.0.0.1:1", h); err == nil {
			t.Fatal("dialing a closed port succeeded")
		}
	})
	if s.opts.AdoptsPipe {
		t.Run("pipe", func(t *testing.T) {
			eng := s.engine(t, poller.Config{})
			a, b := net.Pipe()
			defer b.Close()
			pc, err := eng.Adopt(a, nil, echoHandler(t))
			if err != nil {
				t.Fatal(err)
			}
			if pc.LocalAddr() == nil || pc.RemoteAddr() == nil {
				t.Fatal("nil address")
			}
			go b.Write([]byte("over a pipe"))
			got := make([]byte, 11)
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(b, got); err != nil || string(got) != "over a pipe" {
				t.Fatalf("pipe echo %q, %v", got, err)
			}
		})
	}
}

// testServeListenerClosed: closing the listener ends Serve with an error
// while the engine and its connections live on.
func (s *suite) testServeListenerClosed(t *testing.T) {
	eng := s.engine(t, poller.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	opened := make(chan struct{}, 1)
	h := echoHandler(t)
	h.Open = func(poller.Conn) { opened <- struct{}{} }
	go func() { served <- eng.Serve(ln, h) }()
	c := dial(t, ln.Addr().String())
	// Accepted first: closing a listener resets connections still queued.
	wait(t, opened, 5*time.Second, "OnOpen")
	ln.Close()
	if err := wait(t, served, 5*time.Second, "Serve to return after ln.Close"); err == nil {
		t.Fatal("Serve returned nil after its listener closed")
	}
	c.Write([]byte("still here"))
	got := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "still here" {
		t.Fatalf("connection after ln.Close: %q, %v", got, err)
	}
}

func (s *suite) testShutdown(t *testing.T) {
	eng := s.engine(t, poller.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 4)
	served := make(chan error, 1)
	h := checked(t, &H{Close: func(_ poller.Conn, err error) { closed <- err }})
	go func() { served <- eng.Serve(ln, h) }()
	c := dial(t, ln.Addr().String())
	c.Write([]byte("x"))
	time.Sleep(50 * time.Millisecond)
	// The connection stays open: Shutdown waits for it until ctx ends,
	// then closes it.
	err = eng.Shutdown(ctxT(t, 200*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a live connection = %v, want DeadlineExceeded", err)
	}
	wait(t, closed, 5*time.Second, "OnClose of the connection Shutdown closed")
	if err := wait(t, served, 5*time.Second, "Serve to return"); err == nil {
		t.Fatal("Serve returned nil after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
	if err := eng.Shutdown(ctxT(t, time.Second)); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}
