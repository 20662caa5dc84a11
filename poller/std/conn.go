package std

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

const (
	// readSize is the read buffer a connection starts with; it grows (up
	// to MaxInput) only while a handler leaves bytes unconsumed.
	readSize = 4 << 10
	// chunkSize is the size of the pooled chunks small writes are copied
	// into; larger writes get a chunk of their own.
	chunkSize = 16 << 10
	// keepRead is the largest read buffer kept once everything is consumed.
	keepRead = 64 << 10
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// pastDeadline interrupts a blocked Read (see kickLocked).
var pastDeadline = time.Unix(1, 0)

// conn implements poller.Conn over a net.Conn.
type conn struct {
	e            *engine
	nc           net.Conn
	laddr, raddr net.Addr

	mu   sync.Mutex
	cond sync.Cond // the reader parks on it while paused or draining at EOF

	h       poller.Handler
	hgen    uint64 // bumped by SetHandler; compared instead of h, which may not be comparable
	userCtx any
	paused  bool
	reoffer bool // offer pending bytes again even if nothing new arrived
	inRead  bool // the reader is (about to be) blocked in nc.Read
	pending int  // unconsumed input bytes, mirrored for kickers

	closed   bool  // no more I/O: Close, failure or end of the read side
	closeErr error // what OnClose reports
	failed   error // what Flush reports; nil after a clean close
	wclosed  bool  // CloseWrite called or read side ended: no new writes
	wantFIN  bool  // shut the write side down once the queue is empty
	finSent  bool  // the write side is shut down
	half     bool  // OnReadEOF kept the connection open for writing

	queue    [][]byte // chunks waiting for the writer
	queued   int      // bytes in queue
	inflight int      // bytes the writer took and has not finished
	writing  bool     // a writer goroutine runs
	enq      uint64   // bytes ever accepted by Write
	written  uint64   // bytes ever handed to the socket
	progress chan struct{}

	// Reader goroutine only.
	buf        []byte
	start, end int
	offered    uint64 // hgen of the handler that saw buf[start:end] last
	fresh      bool   // buf[start:end] holds bytes not offered yet

	// Writer goroutine only.
	batch, iov [][]byte
	step       net.Buffers // the part of iov one write takes (writeLoop)
}

func newConn(e *engine, nc net.Conn, h poller.Handler, buffered []byte) *conn {
	c := &conn{e: e, nc: nc, h: h, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}
	if c.laddr == nil {
		c.laddr = unknownAddr{}
	}
	if c.raddr == nil {
		c.raddr = unknownAddr{}
	}
	c.cond.L = &c.mu
	if len(buffered) > 0 {
		c.buf = make([]byte, max(readSize, len(buffered)))
		c.end = copy(c.buf, buffered)
		c.pending = c.end
		c.fresh = true
	}
	return c
}

// unknownAddr stands in for a net.Conn that reports no address.
type unknownAddr struct{}

func (unknownAddr) Network() string { return "unknown" }
func (unknownAddr) String() string  { return "unknown" }

func (c *conn) LocalAddr() net.Addr  { return c.laddr }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

func (c *conn) SetContext(v any) {
	c.mu.Lock()
	c.userCtx = v
	c.mu.Unlock()
}

func (c *conn) Context() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userCtx
}

func (c *conn) AfterFunc(d time.Duration, f func()) poller.Timer {
	return c.e.wheel.AfterFunc(d, f)
}

// kickLocked makes a blocked Read return at once so the reader notices a
// state change (new handler or resume with bytes pending). mu is held.
func (c *conn) kickLocked() {
	if c.inRead && c.pending > 0 {
		c.nc.SetReadDeadline(pastDeadline)
	}
}

func (c *conn) PauseRead() {
	c.mu.Lock()
	c.paused = true
	c.mu.Unlock()
}

func (c *conn) ResumeRead() {
	c.mu.Lock()
	if c.paused {
		c.paused = false
		c.reoffer = true
		c.cond.Broadcast()
		c.kickLocked()
	}
	c.mu.Unlock()
}

func (c *conn) SetHandler(h poller.Handler) {
	if h == nil {
		panic("std: SetHandler(nil)")
	}
	c.mu.Lock()
	c.h = h
	c.hgen++
	// Offer what is held back even when h is the handler already: it may
	// have refused the bytes until it was ready for them.
	c.reoffer = true
	c.kickLocked()
	c.mu.Unlock()
}

// readLoop is the connection's only caller of Handler methods.
func (c *conn) readLoop() {
	defer c.e.wg.Done()
	defer c.e.remove(c)
	c.mu.Lock()
	h := c.h
	c.mu.Unlock()
	h.OnOpen(c)
	eof := false // the peer's FIN was read: offer what is left, then report it
	for {
		c.mu.Lock()
		for c.paused && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			break
		}
		h = c.h
		gen := c.hgen
		offer := c.end > c.start && (c.fresh || c.reoffer || gen != c.offered)
		c.reoffer = false
		if !offer && !eof {
			c.inRead = true
		}
		c.mu.Unlock()
		if offer {
			c.offer(h, gen)
			continue
		}
		if eof {
			c.readEOF(h)
			break
		}
		if !c.makeRoom() {
			c.fail(fmt.Errorf("std: %d unconsumed bytes: %w", c.end-c.start, poller.ErrInputLimit))
			break
		}
		n, err := c.nc.Read(c.buf[c.end:])
		c.mu.Lock()
		c.inRead = false
		if n > 0 {
			c.end += n
			c.pending = c.end - c.start
			c.fresh = true
		}
		c.mu.Unlock()
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// A kick, not a failure: we never set deadlines otherwise.
			c.nc.SetReadDeadline(time.Time{})
			continue
		}
		if err == io.EOF {
			// Through the loop once more: bytes that came with the FIN
			// and any held while paused are offered first.
			eof = true
			continue
		}
		if n > 0 && !c.closedNow() {
			c.deliverLast()
		}
		c.fail(err)
		break
	}
	c.mu.Lock()
	err := c.closeErr
	h = c.h
	c.mu.Unlock()
	h.OnClose(c, err)
	c.buf = nil
}

func (c *conn) closedNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// deliverLast offers bytes that came with the final read error, unless the
// handler paused (then they are dropped with the connection).
func (c *conn) deliverLast() {
	for {
		c.mu.Lock()
		h, gen := c.h, c.hgen
		ok := !c.paused && !c.closed && c.end > c.start && (c.fresh || gen != c.offered)
		c.mu.Unlock()
		if !ok {
			return
		}
		c.offer(h, gen)
	}
}

// offer hands the pending bytes to h, the handler of generation gen.
func (c *conn) offer(h poller.Handler, gen uint64) {
	n := h.OnData(c, c.buf[c.start:c.end])
	if n < 0 {
		n = 0
	}
	c.start = min(c.start+n, c.end)
	if c.start == c.end {
		c.start, c.end = 0, 0
		if len(c.buf) > keepRead {
			c.buf = nil
		}
	}
	c.mu.Lock()
	c.pending = c.end - c.start
	c.fresh = false
	c.offered = gen
	c.mu.Unlock()
}

// makeRoom makes sure buf has free space after end, compacting or growing
// it; it reports false when the unconsumed bytes already fill MaxInput.
func (c *conn) makeRoom() bool {
	if c.buf == nil {
		c.buf = make([]byte, readSize)
	}
	if c.end < len(c.buf) {
		return true
	}
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
		return true
	}
	limit := c.e.cfg.MaxInput
	if len(c.buf) >= limit {
		return false
	}
	nb := make([]byte, min(2*len(c.buf), limit))
	copy(nb, c.buf[:c.end])
	c.buf = nb
	return true
}

// readEOF reports the peer's FIN to h once everything before it was
// offered. A HalfCloseHandler that keeps writing owns the end: the reader
// parks until CloseWrite's FIN is out, Close is called or a write fails.
// Any other answer drains the queue and closes.
func (c *conn) readEOF(h poller.Handler) {
	if hc, ok := h.(poller.HalfCloseHandler); ok && !c.closedNow() && hc.OnReadEOF(c) {
		c.mu.Lock()
		c.half = true
		if c.finSent && !c.closed {
			// CloseWrite finished while OnReadEOF ran.
			c.closed = true
			c.closeErr = io.EOF
		}
		for !c.closed {
			c.cond.Wait()
		}
		c.mu.Unlock()
		c.nc.Close()
		return
	}
	c.drainAndClose()
}

// drainAndClose ends the connection after the peer's FIN: no new writes
// are accepted, the writer finishes what was queued, then the socket
// closes and OnClose reports io.EOF.
func (c *conn) drainAndClose() {
	c.mu.Lock()
	c.wclosed = true
	for c.writing && !c.closed {
		c.cond.Wait()
	}
	if !c.closed {
		c.closed = true
		c.closeErr = io.EOF
		c.dropQueueLocked()
	}
	c.mu.Unlock()
	c.nc.Close()
}

// fail closes the connection because of err (unless it is closed already,
// which is what made the I/O fail).
func (c *conn) fail(err error) {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.closeErr = err
		c.failed = err
		c.dropQueueLocked()
	}
	c.mu.Unlock()
	c.nc.Close()
}

// dropQueueLocked forgets queued output and wakes waiters; mu is held.
func (c *conn) dropQueueLocked() {
	for _, b := range c.queue {
		putChunk(b)
	}
	c.queue = nil
	c.queued = 0
	c.wclosed = true
	c.notifyLocked()
}

// notifyLocked wakes Flush callers and a reader draining at EOF.
func (c *conn) notifyLocked() {
	if c.progress != nil {
		close(c.progress)
		c.progress = nil
	}
	c.cond.Broadcast()
}

func (c *conn) Close() error { return c.CloseWithError(nil) }

func (c *conn) CloseWithError(err error) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("std: close: %w", poller.ErrClosed)
	}
	c.closed = true
	c.closeErr = err
	c.failed = err
	c.dropQueueLocked()
	c.mu.Unlock()
	return c.nc.Close()
}

type closeWriter interface{ CloseWrite() error }

func (c *conn) CloseWrite() error {
	if _, ok := c.nc.(closeWriter); !ok {
		return fmt.Errorf("std: close write on %T: %w", c.nc, errors.ErrUnsupported)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.wclosed {
		return fmt.Errorf("std: close write: %w", poller.ErrClosed)
	}
	c.wclosed = true
	c.wantFIN = true
	c.startWriterLocked()
	return nil
}

func (c *conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued + c.inflight
}

func (c *conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.admitLocked(len(b)); err != nil {
		return 0, err
	}
	c.appendLocked(b)
	c.startWriterLocked()
	return len(b), nil
}

func (c *conn) Writev(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.admitLocked(n); err != nil {
		return 0, err
	}
	for _, b := range bufs {
		c.appendLocked(b)
	}
	c.startWriterLocked()
	return n, nil
}

// admitLocked checks that n more bytes may be queued; mu is held.
func (c *conn) admitLocked(n int) error {
	if c.closed || c.wclosed {
		return fmt.Errorf("std: write: %w", poller.ErrClosed)
	}
	if q := c.queued + c.inflight; q > 0 && q+n > c.e.cfg.MaxOutput {
		return fmt.Errorf("std: write of %d bytes with %d queued: %w", n, c.queued+c.inflight, poller.ErrOutputLimit)
	}
	return nil
}

// appendLocked copies b to the queue, filling the last chunk first.
func (c *conn) appendLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	c.queued += len(b)
	c.enq += uint64(len(b))
	if k := len(c.queue); k > 0 {
		last := c.queue[k-1]
		if cap(last) == chunkSize && len(last)+len(b) <= chunkSize {
			c.queue[k-1] = append(last, b...)
			return
		}
	}
	var chunk []byte
	if len(b) <= chunkSize {
		chunk = (*chunkPool.Get().(*[]byte))[:0]
	} else {
		chunk = make([]byte, 0, len(b))
	}
	c.queue = append(c.queue, append(chunk, b...))
}

func putChunk(b []byte) {
	if cap(b) == chunkSize {
		b = b[:0]
		chunkPool.Put(&b)
	}
}

func (c *conn) startWriterLocked() {
	if !c.writing && (len(c.queue) > 0 || c.wantFIN) {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop writes the queue with one vectored write per batch and exits
// once it is empty, so an idle connection has no writer goroutine.
// writeStep bounds one write of the writer goroutine (see writeLoop).
const writeStep = 128 << 10

// nextStep moves up to max bytes from the front of *rest into step (its
// storage reused) and returns it.
func nextStep(step net.Buffers, rest *net.Buffers, max int) net.Buffers {
	step = step[:0]
	for len(*rest) > 0 && max > 0 {
		b := (*rest)[0]
		if len(b) > max {
			step = append(step, b[:max])
			(*rest)[0] = b[max:]
			return step
		}
		step = append(step, b)
		max -= len(b)
		*rest = (*rest)[1:]
	}
	return step
}

func (c *conn) writeLoop() {
	c.mu.Lock()
	for !c.closed && len(c.queue) > 0 {
		c.batch = append(c.batch[:0], c.queue...)
		clear(c.queue)
		c.queue = c.queue[:0]
		c.inflight = c.queued
		c.queued = 0
		c.mu.Unlock()

		// WriteTo consumes the slice it is given, so hand it a copy and
		// keep batch for recycling the chunks. The batch goes out in steps
		// of at most writeStep bytes, each counted as written when it is:
		// Buffered and Flush then see a slow reader's progress (what
		// poller.FlushStalled times) instead of one blocking write that
		// moves nothing until the whole batch is in the kernel.
		c.iov = append(c.iov[:0], c.batch...)
		rest := net.Buffers(c.iov)
		var err error
		for len(rest) > 0 && err == nil {
			c.step = nextStep(c.step, &rest, writeStep)
			var n int64
			n, err = c.step.WriteTo(c.nc)
			c.mu.Lock()
			c.written += uint64(n)
			c.inflight -= int(n)
			c.notifyLocked()
			c.mu.Unlock()
		}
		for i, b := range c.batch {
			putChunk(b)
			c.batch[i] = nil
		}
		clear(c.iov)
		clear(c.step[:cap(c.step)])

		c.mu.Lock()
		c.inflight = 0
		if err != nil {
			if !c.closed {
				c.closed = true
				c.closeErr = err
				c.failed = err
				c.dropQueueLocked()
				c.mu.Unlock()
				c.nc.Close()
				c.mu.Lock()
			}
		}
		c.notifyLocked()
	}
	if c.wantFIN && !c.closed {
		c.wantFIN = false
		c.mu.Unlock()
		err := c.nc.(closeWriter).CloseWrite()
		c.mu.Lock()
		if err != nil && !c.closed {
			c.closed = true
			c.closeErr = err
			c.failed = err
			c.dropQueueLocked()
			c.mu.Unlock()
			c.nc.Close()
			c.mu.Lock()
		}
		if err == nil {
			c.finSent = true
			if c.half && !c.closed {
				// Both directions are done: the parked reader closes.
				c.closed = true
				c.closeErr = io.EOF
			}
		}
	}
	c.writing = false
	c.notifyLocked()
	c.mu.Unlock()
}

// Flush waits until the bytes accepted before the call are written; see
// poller.Conn.
func (c *conn) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.enq
	for {
		if c.written >= target {
			c.mu.Unlock()
			return nil
		}
		if c.failed != nil {
			err := c.failed
			c.mu.Unlock()
			return fmt.Errorf("std: flush: %w", err)
		}
		if c.closed && !c.writing {
			// Closed cleanly: the rest of the queue was dropped on purpose.
			c.mu.Unlock()
			return nil
		}
		if c.progress == nil {
			c.progress = make(chan struct{})
		}
		ch := c.progress
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("std: flush: %w", ctx.Err())
		}
		c.mu.Lock()
	}
}
