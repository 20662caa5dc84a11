//go:build linux

package netpoll_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

type handler struct {
	open func(c poller.Conn)
}

func (h handler) OnOpen(c poller.Conn) {
	if h.open != nil {
		h.open(c)
	}
}
func (handler) OnData(_ poller.Conn, b []byte) int { return len(b) }
func (handler) OnClose(poller.Conn, error)         {}

// serverConn returns the server side of one connection and its client.
func serverConn(t *testing.T, eng poller.Engine) (poller.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan poller.Conn, 1)
	go eng.Serve(ln, handler{open: func(c poller.Conn) { conns <- c }})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case sc := <-conns:
		return sc, c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil, nil
	}
}

func TestAdoptUnsupported(t *testing.T) {
	eng := newEngine(t, poller.Config{})
	defer eng.Close()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := eng.Adopt(a, nil, handler{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Adopt(net.Pipe) = %v, want ErrUnsupported", err)
	}
}

// TestDirectWriteNoAllocs: a write the socket takes at once goes straight
// to the descriptor, without copying or allocating.
func TestDirectWriteNoAllocs(t *testing.T) {
	eng := newEngine(t, poller.Config{})
	defer eng.Close()
	sc, c := serverConn(t, eng)
	go io.Copy(io.Discard, c)
	msg := make([]byte, 256)
	vec := [][]byte{msg[:10], msg[10:]}
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := sc.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Writev(vec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Write+Writev allocate %v times per run", allocs)
	}
}

// TestBacklogPollerStops: the write poller that drains backlogs starts on
// demand and its goroutine ends with the engine.
func TestBacklogPollerStops(t *testing.T) {
	// netpoll starts its process-wide pollers with the first connection.
	warm := newEngine(t, poller.Config{})
	serverConn(t, warm)
	warm.Close()
	time.Sleep(50 * time.Millisecond)
	g0 := runtime.NumGoroutine()
	eng := newEngine(t, poller.Config{MaxOutput: 64 << 20})
	sc, c := serverConn(t, eng)
	if _, err := sc.Write(make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	if sc.Buffered() == 0 {
		t.Fatal("32 MiB fit in the socket: no backlog to test")
	}
	go io.Copy(io.Discard, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	eng.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before\n%s", g, g0, buf[:runtime.Stack(buf, true)])
	}
}
