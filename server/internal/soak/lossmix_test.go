package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// lossPattern is what every body and frame payload of the loss mix is cut
// from: a random block of prime length, read from a shift that depends on
// the request, so a byte from the wrong place or the wrong response cannot
// pass for the right one, and checking is bytes.Equal on slices of it
// (no per-byte work, which -race would make slow).
var lossPattern = func() []byte {
	b := make([]byte, 65521)
	r := rand.New(rand.NewPCG(18, 18))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// patternAt appends n bytes of the pattern starting at offset off.
func patternAt(dst []byte, off int64, n int) []byte {
	for n > 0 {
		i := int(off % int64(len(lossPattern)))
		k := min(n, len(lossPattern)-i)
		dst = append(dst, lossPattern[i:i+k]...)
		off += int64(k)
		n -= k
	}
	return dst
}

// matchesPattern reports whether b is the pattern from offset off.
func matchesPattern(b []byte, off int64) bool {
	for len(b) > 0 {
		i := int(off % int64(len(lossPattern)))
		k := min(len(b), len(lossPattern)-i)
		if !bytes.Equal(b[:k], lossPattern[i:i+k]) {
			return false
		}
		b = b[k:]
		off += int64(k)
	}
	return true
}

// lossMixConfig is one run of the mix.
type lossMixConfig struct {
	// Bodies are the response sizes each HTTP connection asks for on one
	// keep-alive connection: every other connection sends its requests
	// one after the other, the rest pipeline them all at once.
	Bodies [][]int
	// SlowFor is how long an HTTP client reads each body slowly
	// (SlowChunk bytes, then SlowPause) before reading as fast as it can.
	SlowFor   time.Duration
	SlowChunk int
	SlowPause time.Duration
	// Sessions channel-mode sessions each get Frames frames on Outgoing()
	// and Frames through Send, interleaved; every SlowEvery-th session's
	// client waits SlowStart before reading.
	Sessions, Frames int
	SlowEvery        int
	SlowStart        time.Duration
	// Timeout bounds the run.
	Timeout time.Duration
}

// defaultLossMix is the short run, or the long one with -soak.long. The
// larger bodies are past the engine's 16 MiB output cap (MaxOutput), so a
// server that queues a response faster than the reader takes it hits the
// cap while the reader is slow; the pipelined connection has its next
// handler running while the body before it is still read slowly. Slow
// channel clients let the session's queue fill, so frames are still on
// Outgoing() and blocked in Send when the handler returns.
func defaultLossMix() lossMixConfig {
	c := lossMixConfig{
		Bodies:    [][]int{{8 << 20, 40 << 20}, {16 << 20, 64 << 20}},
		SlowFor:   time.Second,
		SlowChunk: 4 << 10,
		SlowPause: 2 * time.Millisecond,
		Sessions:  12, Frames: 150, SlowEvery: 2, SlowStart: 500 * time.Millisecond,
		Timeout: 90 * time.Second,
	}
	if *long {
		c.Bodies = [][]int{{8 << 20, 64 << 20, 32 << 20}, {64 << 20, 16 << 20, 64 << 20}, {24 << 20, 48 << 20, 8 << 20}}
		c.SlowFor, c.Sessions, c.Frames, c.SlowStart, c.Timeout = 3*time.Second, 64, 1000, 2*time.Second, 10*time.Minute
	}
	return c
}

// Frame payload of the channel sessions: source ('O' for Outgoing, 'S'
// for Send) | seq (4 bytes) | pattern. Its size and pattern offset are a
// function of (session, source, seq), so the client knows what must come.
const lossFrameHead = 5

func lossFrameSize(id int, src byte, seq int) int {
	h := uint64(id)<<40 ^ uint64(src)<<32 ^ uint64(seq)
	h ^= h >> 31
	h *= 0x9e3779b97f4a7c15
	h ^= h >> 29
	return lossFrameHead + int(h%(24<<10))
}

func lossFrameOffset(id int, src byte, seq int) int64 {
	return int64(id)*1_000_003 + int64(src)*7919 + int64(seq)*104_729
}

func lossFrame(id int, src byte, seq int) []byte {
	n := lossFrameSize(id, src, seq)
	p := make([]byte, lossFrameHead, n)
	p[0] = src
	binary.BigEndian.PutUint32(p[1:], uint32(seq))
	return patternAt(p, lossFrameOffset(id, src, seq), n-lossFrameHead)
}

// lossServer counts, per HTTP body and per channel session, what the
// server's handlers had accepted from them by the time they returned.
type lossServer struct {
	addr string

	mu     sync.Mutex
	bodies map[string]*bodyCount // by path
	chans  map[int]*chanCount    // by session id
	// running counts handlers not yet returned. Not a WaitGroup: after a
	// client failed, a pipelined request's handler may start while the
	// test already waits.
	running atomic.Int64
}

type bodyCount struct {
	size     int64
	accepted int64 // bytes Write took without error
	writeErr error
	returned bool
}

type chanCount struct {
	outgoing int // frames the handler put on Outgoing()
	sent     int // frames Send accepted
	sendErr  error
	returned bool
}

// startLossServer serves GET /big/<conn>/<body>/<size> (a body of size
// bytes with a Content-Length) and channel sessions on /chan on backend.
func startLossServer(t *testing.T, backend string, frames int) *lossServer {
	t.Helper()
	ls := &lossServer{bodies: map[string]*bodyCount{}, chans: map[int]*chanCount{}}
	module := func(app *server.App) {
		app.HandleFunc("/big/", ls.serveBody)
		app.Channel("/chan", func(s *rawws.Session) { ls.serveChannel(s, frames) })
	}
	srv, err := server.New(module, server.Config{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		waitServed(t, served)
	})
	ls.addr = ln.Addr().String()
	return ls
}

func (ls *lossServer) serveBody(w *rhttp.ResponseWriter, r *rhttp.Request) {
	ls.running.Add(1)
	defer ls.running.Add(-1)
	path := strings.Clone(r.Path) // kept past the request: not a view into its buffer
	parts := strings.Split(strings.TrimPrefix(path, "/big/"), "/")
	size, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if len(parts) != 3 || err != nil || size < 0 || size > 64<<20 {
		w.WriteHeader(400)
		return
	}
	bc := &bodyCount{size: size}
	ls.mu.Lock()
	ls.bodies[path] = bc
	ls.mu.Unlock()
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	off := bodyOffset(path)
	chunk := make([]byte, 0, 256<<10)
	for done := int64(0); done < size; {
		n := int(min(int64(cap(chunk)), size-done))
		chunk = patternAt(chunk[:0], off+done, n)
		k, err := w.Write(chunk)
		ls.mu.Lock()
		bc.accepted += int64(k)
		if err != nil {
			bc.writeErr = err
		}
		ls.mu.Unlock()
		if err != nil {
			break
		}
		done += int64(n)
	}
	ls.mu.Lock()
	bc.returned = true
	ls.mu.Unlock()
}

// bodyOffset is where in the pattern the body of path starts.
func bodyOffset(path string) int64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(path); i++ {
		h = (h ^ uint64(path[i])) * 1099511628211
	}
	return int64(h % (1 << 40))
}

// serveChannel reads the session's id (a text frame "id=N"), then
// interleaves frames on Outgoing() and through Send, closes Outgoing and
// returns: Start then flushes and terminates, and every frame handed over
// must still reach the client.
func (ls *lossServer) serveChannel(s *rawws.Session, frames int) {
	ls.running.Add(1)
	defer ls.running.Add(-1)
	f, ok := <-s.Incoming()
	id, err := strconv.Atoi(strings.TrimPrefix(string(f.Payload), "id="))
	if !ok || f.Opcode != frame.OpText || err != nil {
		s.Close(fmt.Errorf("soak: lossmix: bad id frame %q", f.Payload))
		return
	}
	cc := &chanCount{}
	ls.mu.Lock()
	ls.chans[id] = cc
	ls.mu.Unlock()
	out := s.Outgoing()
	for seq := 0; seq < frames; seq++ {
		out <- frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: lossFrame(id, 'O', seq)}
		err := s.Send(context.Background(), frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: lossFrame(id, 'S', seq)})
		ls.mu.Lock()
		cc.outgoing++
		if err == nil {
			cc.sent++
		} else if cc.sendErr == nil {
			cc.sendErr = err
		}
		ls.mu.Unlock()
	}
	close(out)
	ls.mu.Lock()
	cc.returned = true
	ls.mu.Unlock()
}

// bodyResult is what one HTTP client got of one body.
type bodyResult struct {
	path string
	size int64
	got  int64 // body bytes received and matching the pattern
	err  error
}

// getBodies asks for sizes on one keep-alive connection, one after the
// other or (pipeline) all at once, reading each body slowly for
// cfg.SlowFor and then at full speed.
func getBodies(addr string, conn int, sizes []int, pipeline bool, cfg lossMixConfig, deadline time.Time) []bodyResult {
	res := make([]bodyResult, len(sizes))
	for i, n := range sizes {
		res[i] = bodyResult{path: fmt.Sprintf("/big/%d/%d/%d", conn, i, n), size: int64(n)}
	}
	defer func() {
		// A failure ends the connection: say so for the bodies after it.
		for i := range res {
			if res[i].err != nil {
				for j := i + 1; j < len(res); j++ {
					res[j].err = fmt.Errorf("not read: the connection failed on %s", res[i].path)
				}
				return
			}
		}
	}()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		res[0].err = err
		return res
	}
	defer c.Close()
	// A small receive buffer makes the slow phase push back on the server
	// at once instead of after the kernel's few megabytes.
	c.(*net.TCPConn).SetReadBuffer(32 << 10)
	c.SetDeadline(deadline)
	br := bufio.NewReaderSize(c, 64<<10)
	buf := make([]byte, 256<<10)
	ask := func(r *bodyResult) bool {
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: soak\r\n\r\n", r.path); err != nil {
			r.err = fmt.Errorf("writing the request: %w", err)
			return false
		}
		return true
	}
	if pipeline {
		for i := range res {
			if !ask(&res[i]) {
				return res
			}
		}
	}
	for i := range res {
		r := &res[i]
		if !pipeline && !ask(r) {
			return res
		}
		length, err := readHead(br)
		if err != nil {
			r.err = err
			return res
		}
		if length != r.size {
			r.err = fmt.Errorf("Content-Length %d, want %d", length, r.size)
			return res
		}
		off := bodyOffset(r.path)
		slowUntil := time.Now().Add(cfg.SlowFor)
		for r.got < r.size {
			want := int(min(int64(len(buf)), r.size-r.got))
			if time.Now().Before(slowUntil) {
				want = min(want, cfg.SlowChunk)
			}
			k, err := br.Read(buf[:want])
			if k > 0 && !matchesPattern(buf[:k], off+r.got) {
				r.err = fmt.Errorf("bytes %d..%d differ from what was sent", r.got, r.got+int64(k))
				return res
			}
			r.got += int64(k)
			if err != nil {
				r.err = fmt.Errorf("after %d of %d body bytes: %w", r.got, r.size, err)
				return res
			}
			if time.Now().Before(slowUntil) {
				time.Sleep(cfg.SlowPause)
			}
		}
	}
	return res
}

// readHead reads a response head and returns its Content-Length; the
// status must be 200.
func readHead(br *bufio.Reader) (int64, error) {
	status, err := br.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the status line: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		return 0, fmt.Errorf("status %q", strings.TrimSpace(status))
	}
	length := int64(-1)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("reading the head: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, v, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Content-Length") {
			if length, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
				return 0, fmt.Errorf("Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("no Content-Length")
	}
	return length, nil
}

// chanResult is what one channel session's client got.
type chanResult struct {
	id       int
	outgoing int // 'O' frames received, in order and intact
	sent     int // 'S' frames received, in order and intact
	err      error
}

// readChannel sends the session's id, then reads frames until the
// server's end of TCP, checking that each source's frames come in order
// and intact.
func readChannel(addr string, id int, slow time.Duration, deadline time.Time) chanResult {
	res := chanResult{id: id}
	rc, err := DialRaw(addr, "/chan", 10*time.Second)
	if err != nil {
		res.err = err
		return res
	}
	defer rc.Close()
	rc.Conn.SetDeadline(deadline)
	if slow > 0 {
		rc.Conn.(*net.TCPConn).SetReadBuffer(32 << 10)
	}
	if err := rc.WriteFrame(true, frame.OpText, []byte("id="+strconv.Itoa(id))); err != nil {
		res.err = err
		return res
	}
	time.Sleep(slow)
	buf := make([]byte, 64<<10)
	for {
		f, err := rc.ReadFrame(buf)
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		if f.Opcode != frame.OpBinary || !f.Fin || len(f.Payload) < lossFrameHead {
			res.err = fmt.Errorf("unexpected frame: %v fin %v, %d bytes", f.Opcode, f.Fin, len(f.Payload))
			return res
		}
		src, seq := f.Payload[0], int(binary.BigEndian.Uint32(f.Payload[1:]))
		next := &res.outgoing
		if src == 'S' {
			next = &res.sent
		} else if src != 'O' {
			res.err = fmt.Errorf("frame from unknown source %q", src)
			return res
		}
		if seq != *next {
			res.err = fmt.Errorf("%c frame seq %d arrived while %d was expected", src, seq, *next)
			return res
		}
		if len(f.Payload) != lossFrameSize(id, src, seq) || !matchesPattern(f.Payload[lossFrameHead:], lossFrameOffset(id, src, seq)) {
			res.err = fmt.Errorf("%c frame seq %d: %d bytes, content or length differ from what was sent", src, seq, len(f.Payload))
			return res
		}
		*next++
	}
}

// TestLossMix: large HTTP responses read by slow readers that then speed
// up, and channel-mode sessions whose handler sends on Outgoing() and
// through Send and returns, at the same time on one server, on every
// backend. Every byte and frame the server's handlers handed over must
// reach the clients: the counts at both ends must match, 0 lost.
func TestLossMix(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		cfg := defaultLossMix()
		ls := startLossServer(t, backend, cfg.Frames)
		start := time.Now()
		deadline := start.Add(cfg.Timeout)
		var wg sync.WaitGroup
		bodies := make([][]bodyResult, len(cfg.Bodies))
		for i, sizes := range cfg.Bodies {
			wg.Add(1)
			go func() { defer wg.Done(); bodies[i] = getBodies(ls.addr, i, sizes, i%2 == 1, cfg, deadline) }()
		}
		chans := make([]chanResult, cfg.Sessions)
		for i := range cfg.Sessions {
			slow := time.Duration(0)
			if cfg.SlowEvery > 0 && i%cfg.SlowEvery == cfg.SlowEvery-1 {
				slow = cfg.SlowStart
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				chans[i] = readChannel(ls.addr, i, slow, deadline)
			}()
		}
		wg.Wait()
		// The clients are done; a handler may still be between its last
		// write and its return.
		for wait := time.Now().Add(10 * time.Second); ls.running.Load() > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(wait) {
				t.Errorf("%d server handlers still running 10 s after every client finished", ls.running.Load())
				break
			}
		}
		ls.mu.Lock()
		defer ls.mu.Unlock()

		var sentBytes, gotBytes, served int64
		for _, conn := range bodies {
			for _, r := range conn {
				gotBytes += r.got
				bc := ls.bodies[r.path]
				if bc == nil {
					if r.err != nil {
						t.Errorf("GET %s: never reached the server; client: %v", r.path, r.err)
					}
					continue
				}
				served++
				sentBytes += bc.accepted
				if r.err != nil || r.got != r.size || bc.accepted != r.size || bc.writeErr != nil || !bc.returned {
					t.Errorf("GET %s (%d MiB): the client got %d bytes (%d lost), error: %v; the handler's writes took %d bytes, write error: %v, returned: %v",
						r.path, r.size>>20, r.got, bc.accepted-r.got, r.err, bc.accepted, bc.writeErr, bc.returned)
				}
			}
		}
		var queued, got int
		for _, r := range chans {
			cc := ls.chans[r.id]
			got += r.outgoing + r.sent
			if cc == nil {
				t.Errorf("channel session %d: its handler never started; client: %v", r.id, r.err)
				continue
			}
			queued += cc.outgoing + cc.sent
			if r.err != nil || r.outgoing != cfg.Frames || r.sent != cfg.Frames || cc.outgoing != cfg.Frames || cc.sent != cfg.Frames || cc.sendErr != nil || !cc.returned {
				t.Errorf("channel session %d: handler put %d frames on Outgoing(), the client got %d (%d lost); Send accepted %d, the client got %d (%d lost); Send error: %v; handler returned: %v; client: %v",
					r.id, cc.outgoing, r.outgoing, cc.outgoing-r.outgoing, cc.sent, r.sent, cc.sent-r.sent, cc.sendErr, cc.returned, r.err)
			}
		}
		t.Logf("%s: %d bodies, %.1f MiB accepted by handlers, %.1f MiB received; %d channel sessions, %d frames handed over, %d received; %v",
			backend, served, float64(sentBytes)/(1<<20), float64(gotBytes)/(1<<20), len(chans), queued, got, time.Since(start).Round(time.Millisecond))
		if sentBytes != gotBytes || queued != got {
			t.Errorf("lost: %d HTTP body bytes and %d WebSocket frames", sentBytes-gotBytes, queued-got)
		}
	})
}
