package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rawws/rawws/poller"
)

// hijackedInMax bounds the bytes a hijacked net.Conn holds unread: past
// it the connection stops reading (TCP pushes back on the peer) until
// Read takes some.
const hijackedInMax = 256 << 10

// hijackedConn is the net.Conn a mounted net/http handler gets from
// Hijack: a poller.HalfCloseHandler that turns the engine's pushed bytes
// into blocking Reads, and its non-blocking writes into Writes that wait
// while the connection's output is at its cap.
type hijackedConn struct {
	c poller.Conn

	mu     sync.Mutex
	wake   chan struct{} // closed and replaced on every change a waiter may care about
	in     []byte
	paused bool
	eof    bool  // the peer sent FIN
	err    error // the connection ended (OnClose) with this error, or Close was called
	closed bool  // Close was called
	rdl    time.Time
	wdl    time.Time
}

func newHijackedConn() *hijackedConn {
	return &hijackedConn{wake: make(chan struct{})}
}

// signalLocked wakes every waiter; mu is held.
func (hc *hijackedConn) signalLocked() {
	close(hc.wake)
	hc.wake = make(chan struct{})
}

// OnOpen implements poller.Handler; a hand-off gets none.
func (hc *hijackedConn) OnOpen(poller.Conn) {}

// OnData implements poller.Handler: the bytes wait for Read.
func (hc *hijackedConn) OnData(c poller.Conn, b []byte) int {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.c == nil {
		hc.c = c // the hand-off may offer bytes before Hijack returned
	}
	if hc.closed {
		return len(b) // nobody will read them
	}
	hc.in = append(hc.in, b...)
	if len(hc.in) >= hijackedInMax && !hc.paused {
		hc.paused = true
		c.PauseRead()
	}
	hc.signalLocked()
	return len(b)
}

// OnReadEOF implements poller.HalfCloseHandler: Read returns io.EOF once
// the bytes before the FIN are read, and writing goes on until Close, as on
// a TCP connection.
func (hc *hijackedConn) OnReadEOF(poller.Conn) bool {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.eof = true
	hc.signalLocked()
	return true
}

// OnClose implements poller.Handler.
func (hc *hijackedConn) OnClose(_ poller.Conn, err error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.err == nil {
		if err == nil {
			err = io.EOF
		}
		hc.err = err
	}
	hc.signalLocked()
}

// wait blocks until wake is closed or the deadline dl (zero: none)
// passes; it reports false on the deadline. mu is not held.
func wait(wake <-chan struct{}, dl time.Time) bool {
	if dl.IsZero() {
		<-wake
		return true
	}
	d := time.Until(dl)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-wake:
		return true
	case <-t.C:
		return false
	}
}

// Read implements net.Conn.
func (hc *hijackedConn) Read(p []byte) (int, error) {
	hc.mu.Lock()
	for {
		switch {
		case hc.closed:
			hc.mu.Unlock()
			return 0, net.ErrClosed
		case len(hc.in) > 0:
			n := copy(p, hc.in)
			hc.in = hc.in[:copy(hc.in, hc.in[n:])]
			resume := hc.paused && len(hc.in) < hijackedInMax/2
			if resume {
				hc.paused = false
			}
			hc.mu.Unlock()
			if resume {
				hc.c.ResumeRead()
			}
			return n, nil
		case hc.eof:
			hc.mu.Unlock()
			return 0, io.EOF
		case hc.err != nil:
			err := hc.err
			hc.mu.Unlock()
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: hc.c.RemoteAddr(), Err: err}
		case !hc.rdl.IsZero() && !time.Now().Before(hc.rdl):
			hc.mu.Unlock()
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: hc.c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
		}
		wake, dl := hc.wake, hc.rdl
		hc.mu.Unlock()
		wait(wake, dl)
		hc.mu.Lock()
	}
}

// Write implements net.Conn: it returns once p is in the socket or the
// connection's queue, waiting (up to the write deadline) while the queue
// is at its cap.
func (hc *hijackedConn) Write(p []byte) (int, error) {
	for {
		hc.mu.Lock()
		closed, dl := hc.closed, hc.wdl
		hc.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
		if !dl.IsZero() && !time.Now().Before(dl) {
			return 0, &net.OpError{Op: "write", Net: "tcp", Addr: hc.c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
		}
		n, err := hc.c.Write(p)
		if !errors.Is(err, poller.ErrOutputLimit) {
			if err != nil {
				return n, &net.OpError{Op: "write", Net: "tcp", Addr: hc.c.RemoteAddr(), Err: err}
			}
			return n, nil
		}
		// Nothing was queued: wait for the queue to drain, then retry.
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if !dl.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, dl)
		}
		err = hc.c.Flush(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return 0, &net.OpError{Op: "write", Net: "tcp", Addr: hc.c.RemoteAddr(), Err: err}
		}
	}
}

// Close implements net.Conn. What was written is still sent (FIN after the
// queue drains); the connection closes for good when the peer closes its
// side, or after lingerTimeout.
func (hc *hijackedConn) Close() error {
	hc.mu.Lock()
	if hc.closed {
		hc.mu.Unlock()
		return net.ErrClosed
	}
	hc.closed = true
	hc.in = nil
	hc.signalLocked()
	resume := hc.paused
	hc.paused = false
	hc.mu.Unlock()
	c := hc.c
	if resume {
		c.ResumeRead() // what comes now is discarded, not held
	}
	err := c.CloseWrite()
	c.AfterFunc(lingerTimeout, func() { c.Close() })
	if err != nil && !errors.Is(err, poller.ErrClosed) {
		return fmt.Errorf("http: close: %w", err)
	}
	return nil
}

// LocalAddr implements net.Conn.
func (hc *hijackedConn) LocalAddr() net.Addr { return hc.c.LocalAddr() }

// RemoteAddr implements net.Conn.
func (hc *hijackedConn) RemoteAddr() net.Addr { return hc.c.RemoteAddr() }

// SetDeadline implements net.Conn.
func (hc *hijackedConn) SetDeadline(t time.Time) error {
	hc.SetReadDeadline(t)
	return hc.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn; it applies to a Read already
// waiting too.
func (hc *hijackedConn) SetReadDeadline(t time.Time) error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.rdl = t
	hc.signalLocked() // a waiting Read picks the new deadline up
	return nil
}

// SetWriteDeadline implements net.Conn; it bounds the wait for room in
// the connection's queue.
func (hc *hijackedConn) SetWriteDeadline(t time.Time) error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.wdl = t
	return nil
}
