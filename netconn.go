package rawws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rawws/rawws/frame"
)

// NetConn returns a net.Conn view of a blocking-mode session
// (Options.Blocking), for code written against net.Conn: Read yields the
// payloads of the incoming messages one after another (each must be of
// type op, else Read fails and the session is closed with 1003), Write
// sends each call's bytes as one message of type op, deadlines bound Read
// and Write (a passed one fails them with an error matching
// os.ErrDeadlineExceeded, a timeout net.Error), and Close sends a Close
// frame (1000), waits for the peer's answer up to Options.CloseTimeout and
// closes the connection. A message boundary means nothing to Read; an
// io.EOF comes only once the peer closed normally. It returns nil outside
// blocking mode.
func (s *Session) NetConn(op frame.Opcode) net.Conn {
	if s.stream() == nil || op != frame.OpText && op != frame.OpBinary {
		return nil
	}
	return &netConn{s: s, op: op, rd: newDeadline(), wd: newDeadline()}
}

// netConn is NetConn's view.
type netConn struct {
	s      *Session
	op     frame.Opcode
	rmu    sync.Mutex // one Read at a time: the message reader is shared
	r      io.Reader
	rd, wd *deadline
}

// errWrongType: NetConn got a message of the other type.
var errWrongType = &frame.ProtocolError{Code: frame.CloseUnsupportedData, Reason: "unexpected message type"}

func (c *netConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			op, r, err := c.s.Reader(c.rd)
			if err != nil {
				return 0, c.readErr(err)
			}
			if op != c.op {
				c.s.fail(errWrongType.Code, errWrongType.Reason, errWrongType)
				return 0, fmt.Errorf("rawws: netconn read: %w: got %v, want %v", ErrInvalidFrame, op, c.op)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			return n, nil
		}
		if err != nil {
			return n, c.readErr(err)
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
}

// readErr maps the session's errors to net.Conn's: a normal close by the
// peer is io.EOF, a passed deadline os.ErrDeadlineExceeded.
func (c *netConn) readErr(err error) error {
	if errors.Is(err, errDeadline) {
		return os.ErrDeadlineExceeded
	}
	var ce *CloseError
	if errors.As(err, &ce) && IsNormalClosure(ce) || errors.Is(err, ErrClosed) && c.s.Err() == nil {
		return io.EOF
	}
	return err
}

func (c *netConn) Write(p []byte) (int, error) {
	err := c.s.SendCopy(c.wd, frame.Frame{Fin: true, Opcode: c.op, Payload: p})
	if err != nil {
		if errors.Is(err, errDeadline) {
			return 0, os.ErrDeadlineExceeded
		}
		return 0, err
	}
	return len(p), nil
}

// Close sends Close 1000 and ends the session once the peer answered (or
// Options.CloseTimeout passed).
func (c *netConn) Close() error {
	ctx := context.Background()
	if d := c.s.opts.closeTimeout(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	err := c.s.CloseWith(ctx, frame.CloseReason{Code: frame.CloseNormal})
	select {
	case <-c.s.Done():
	case <-ctx.Done():
		c.s.Close(ErrCloseTimeout)
	}
	if errors.Is(err, ErrClosed) {
		return nil // closed already: Close is idempotent
	}
	return err
}

func (c *netConn) LocalAddr() net.Addr  { return c.s.Conn().LocalAddr() }
func (c *netConn) RemoteAddr() net.Addr { return c.s.Conn().RemoteAddr() }

func (c *netConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}
func (c *netConn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *netConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// errDeadline is a deadline context's Err: it wraps
// os.ErrDeadlineExceeded so the caller's errors.Is finds it.
var errDeadline = fmt.Errorf("rawws: %w", os.ErrDeadlineExceeded)

// deadline is a context.Context ended by a net.Conn deadline that may be
// moved while a call waits on it, as net.Conn requires.
type deadline struct {
	mu    sync.Mutex
	ch    chan struct{} // closed once the deadline passed
	timer *time.Timer
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.ch:
		// Passed: later calls wait on a fresh channel.
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	ch := d.ch
	if dur := time.Until(t); dur <= 0 {
		close(ch)
	} else {
		d.timer = time.AfterFunc(dur, func() {
			d.mu.Lock()
			if d.ch == ch {
				close(ch)
			}
			d.mu.Unlock()
		})
	}
}

func (d *deadline) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d *deadline) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
func (d *deadline) Err() error {
	select {
	case <-d.Done():
		return errDeadline
	default:
		return nil
	}
}
func (d *deadline) Value(any) any { return nil }
