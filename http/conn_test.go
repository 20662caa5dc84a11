package http

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// fakeConn is a poller.Conn that records what is written, for driving the
// pipeline without sockets. Timers never fire.
type fakeConn struct {
	mu      sync.Mutex
	out     []byte
	writes  int
	paused  bool
	closed  bool
	halfCl  bool
	handler poller.Handler
	ctx     any
}

type nopTimer struct{}

func (nopTimer) Stop() bool { return true }

var fakeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

func (f *fakeConn) Write(b []byte) (int, error) { return f.Writev([][]byte{b}) }
func (f *fakeConn) Writev(bufs [][]byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	n := 0
	for _, b := range bufs {
		f.out = append(f.out, b...)
		n += len(b)
	}
	return n, nil
}
func (f *fakeConn) Flush(context.Context) error { return nil }
func (f *fakeConn) Buffered() int               { return 0 }
func (f *fakeConn) PauseRead()                  { f.mu.Lock(); f.paused = true; f.mu.Unlock() }
func (f *fakeConn) ResumeRead()                 { f.mu.Lock(); f.paused = false; f.mu.Unlock() }
func (f *fakeConn) SetHandler(h poller.Handler) { f.mu.Lock(); f.handler = h; f.mu.Unlock() }
func (f *fakeConn) CloseWrite() error           { f.mu.Lock(); f.halfCl = true; f.mu.Unlock(); return nil }
func (f *fakeConn) Close() error                { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }
func (f *fakeConn) CloseWithError(error) error  { return f.Close() }
func (f *fakeConn) AfterFunc(time.Duration, func()) poller.Timer {
	return nopTimer{}
}
func (f *fakeConn) LocalAddr() net.Addr  { return fakeAddr }
func (f *fakeConn) RemoteAddr() net.Addr { return fakeAddr }
func (f *fakeConn) SetContext(v any)     { f.ctx = v }
func (f *fakeConn) Context() any         { return f.ctx }

// conn is the connection's HTTP state and handler, as the server set
// them in OnOpen.
func (f *fakeConn) conn() (*hconn, poller.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, _ := f.handler.(connHandler)
	return ch.h, f.handler
}

func (f *fakeConn) take() ([]byte, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out, n := f.out, f.writes
	f.out, f.writes = f.out[:0], 0
	return out, n
}

var helloHandler = HandlerFunc(func(w *ResponseWriter, r *Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteString("Hello, World!")
})

// An inline request -> response round costs no allocation.
func TestPipelineNoAllocInline(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	srv := NewServer(Settings{InlineHandlers: true}, helloHandler)
	fc := &fakeConn{}
	h := srv.open(fc)
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
	allocs := testing.AllocsPerRun(1000, func() {
		if n := h.onData(req); n != len(req) {
			t.Fatalf("consumed %d of %d", n, len(req))
		}
		fc.take()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
}

// All responses of a pipelined batch leave in one Writev.
func TestPipelineOneWritePerBatch(t *testing.T) {
	srv := NewServer(Settings{InlineHandlers: true}, helloHandler)
	fc := &fakeConn{}
	h := srv.open(fc)
	var req bytes.Buffer
	for i := range 16 {
		fmt.Fprintf(&req, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	if n := h.onData(req.Bytes()); n != req.Len() {
		t.Fatalf("consumed %d of %d", n, req.Len())
	}
	out, writes := fc.take()
	if writes != 1 {
		t.Fatalf("%d writes for 16 pipelined requests, want 1", writes)
	}
	br := bufio.NewReader(bytes.NewReader(out))
	for i := range 16 {
		r, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		r.Body.Close()
	}
}

// A partial head is resumed, not re-parsed from scratch, and an
// incomplete small body waits in the poller's buffer.
func TestPipelinePartialInput(t *testing.T) {
	srv := NewServer(Settings{InlineHandlers: true}, echoPath)
	fc := &fakeConn{}
	h := srv.open(fc)
	full := []byte("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
	var offered []byte
	for i, c := range full {
		offered = append(offered, c)
		n := h.onData(offered)
		if i < len(full)-1 && n != 0 {
			t.Fatalf("consumed %d bytes of an incomplete request", n)
		}
		if i == len(full)-1 && n != len(full) {
			t.Fatalf("consumed %d of the complete request", n)
		}
	}
	out, _ := fc.take()
	r, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil || bodyOf(r) != "POST /x body=body" {
		t.Fatalf("%v %q", err, out)
	}
}

func BenchmarkPipeline(b *testing.B) {
	for _, inline := range []bool{true, false} {
		for _, depth := range []int{1, 16} {
			b.Run(fmt.Sprintf("inline=%v/depth=%d", inline, depth), func(b *testing.B) {
				srv := NewServer(Settings{InlineHandlers: inline, MaxConcurrentPerConn: 16}, helloHandler)
				// A real engine's timing wheel ticks while connections
				// are open; the runtime checks timers on every schedule.
				tk := time.NewTicker(10 * time.Millisecond)
				defer tk.Stop()
				fc := &fakeConn{}
				h := srv.open(fc)
				_, fch := fc.conn()
				var req bytes.Buffer
				for range depth {
					req.WriteString("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
				}
				raw := req.Bytes()
				want := 0
				h.onData(raw)
				waitOut(fc, 1)
				_, _ = fc.take()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += depth {
					// As the engine calls it, through the connection's handler.
					fch.OnData(fc, raw)
					if !inline {
						waitWrites(h)
					}
					fc.take()
				}
				_ = want
			})
		}
	}
}

func waitOut(fc *fakeConn, min int) {
	for range 1000 {
		fc.mu.Lock()
		n := len(fc.out)
		fc.mu.Unlock()
		if n >= min {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// waitWrites spins until every queued response was written.
func waitWrites(h *hconn) {
	for {
		h.mu.Lock()
		n := len(h.queue)
		h.mu.Unlock()
		if n == 0 {
			return
		}
		runtime.Gosched()
	}
}
