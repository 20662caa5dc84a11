package netpoll

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/poller"
)

const (
	// chunkSize is the size of the pooled chunks a write backlog is
	// copied into; larger writes get a chunk of their own.
	chunkSize = 16 << 10
	// keepCarry is the largest carry buffer kept once it is empty.
	keepCarry = 16 << 10
	// maxIov bounds one writev (the kernel's IOV_MAX is 1024).
	maxIov = 1024
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func getChunk() []byte { return (*chunkPool.Get().(*[]byte))[:0] }

func putChunk(b []byte) {
	if cap(b) == chunkSize {
		b = b[:0]
		chunkPool.Put(&b)
	}
}

// conn implements poller.Conn on a netpoll.Connection.
//
// Handler calls are serialized by the busy flag: whoever sets it (netpoll's
// OnRequest task, or a goroutine started by ResumeRead, SetHandler, the
// close callback or Adopt) runs every pending event, and others only leave
// flags for it. Nobody ever waits for busy.
type conn struct {
	e            *engine
	nc           netpoll.Connection
	fd           int
	laddr, raddr net.Addr

	mu       sync.Mutex
	h        poller.Handler
	hgen     uint64 // bumped by SetHandler; compared instead of h, which may not be comparable
	offered  uint64 // hgen of the handler that saw carry last
	userCtx  any
	busy     bool   // a goroutine is running handler events
	opened   bool   // OnOpen ran (or is running)
	paused   bool   // PauseRead
	reoffer  bool   // offer carry again although nothing new arrived
	fresh    bool   // carry holds bytes not offered yet
	carry    []byte // unconsumed input; only the busy goroutine touches it while busy
	inbox    []byte // input that arrived while busy, merged into carry by the runner
	closing  bool   // Close was called (or a write failed): nothing more is offered
	eof      bool   // netpoll saw the peer go (closeErr says how) and closed its descriptor
	asked    bool   // the read EOF was reported (OnReadEOF or the default): no OnData from now on
	closeErr error  // what OnClose reports
	closeDue bool   // the connection is gone: deliver OnClose
	done     bool   // OnClose ran

	wmu      sync.Mutex
	wfd      int   // the descriptor writes go to: fd, or after the peer's FIN our duplicate of it
	ownFD    bool  // wfd is our duplicate: netpoll closed fd, we close wfd
	dupErr   error // why the descriptor could not be kept after the peer's FIN
	wclosed  bool  // no new writes (CloseWrite, Close, failure)
	fdClosed bool  // wfd is or is about to be closed: never touch it
	failed   error // what Flush reports; nil after a clean close
	armed    bool  // registered with the engine's write poller
	wantFIN  bool  // shut the write side down once the queue is empty
	finSent  bool  // the write side is shut down
	half     bool  // OnReadEOF kept the connection open for writing: it ends at the FIN
	drainEnd bool  // after the read EOF: end the connection once the queue is written
	queue    [][]byte
	qoff     int // bytes of queue[0] already written
	queued   int // bytes in queue not written yet
	enq      uint64
	written  uint64
	progress chan struct{}
	iov      [8]unix.Iovec // scratch for small direct writevs, under wmu
}

// start wraps the descriptor fd in a netpoll connection and registers it.
// On failure fd is closed.
func (e *engine) start(fd int, laddr, raddr net.Addr, buffered []byte, h poller.Handler) (*conn, error) {
	nc, err := netpoll.NewFDConnection(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netpoll: register fd: %w", err)
	}
	c := &conn{e: e, nc: nc, fd: fd, wfd: fd, laddr: laddr, raddr: raddr, h: h}
	if len(buffered) > 0 {
		c.carry = append([]byte(nil), buffered...)
		c.fresh = true
	}
	// Registered after netpoll's own finalizer, so it runs before the
	// descriptor is closed: that is where writes to fd are fenced off.
	nc.AddCloseCallback(c.onClosed)
	if !e.track(c) {
		c.opened, c.done = true, true // never seen by the handler
		nc.Close()
		return nil, fmt.Errorf("netpoll: %w", poller.ErrClosed)
	}
	nc.SetOnRequest(func(context.Context, netpoll.Connection) error {
		c.onRequest()
		return nil
	})
	if !nc.IsActive() {
		// netpoll saw the peer go before any callback was set and will
		// not run the close callbacks by itself.
		nc.Close()
	}
	return c, nil
}

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

// open delivers OnOpen unless a runner already did or is doing it.
func (c *conn) open() {
	c.mu.Lock()
	if c.busy || c.opened {
		c.mu.Unlock()
		return
	}
	c.busy = true
	c.mu.Unlock()
	c.run()
}

// kickLocked starts a runner for pending work if none runs; mu is held.
// The runner is a new goroutine: the caller may hold its own locks.
func (c *conn) kickLocked() {
	if c.busy || c.done {
		return
	}
	if c.closeDue || (!c.paused && (len(c.carry) > 0 || c.eof && !c.asked)) {
		c.busy = true
		go c.run()
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
		c.kickLocked()
	}
	c.mu.Unlock()
}

func (c *conn) SetHandler(h poller.Handler) {
	if h == nil {
		panic("netpoll: SetHandler(nil)")
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

// onRequest runs on netpoll's task for this connection whenever its input
// buffer is not empty. It always empties that buffer (netpoll would call it
// again in a loop otherwise), offering the bytes in place when it can.
func (c *conn) onRequest() {
	r := c.nc.Reader()
	n := r.Len()
	if n == 0 {
		return
	}
	c.mu.Lock()
	if c.busy || c.paused || !c.opened || len(c.carry) > 0 || c.closing {
		var overflow bool
		if !c.closing {
			p, _ := r.Peek(n)
			if c.heldOverLocked(n) {
				overflow = true
			} else if c.busy {
				c.inbox = append(c.inbox, p...)
			} else {
				c.carry = append(c.carry, p...)
				c.fresh = true
			}
		}
		r.Skip(n)
		r.Release()
		start := !overflow && !c.busy && !c.closing
		if start {
			c.busy = true
		}
		c.mu.Unlock()
		if overflow {
			c.CloseWithError(fmt.Errorf("netpoll: more than %d unconsumed bytes: %w", c.e.cfg.MaxInput, poller.ErrInputLimit))
		}
		if start {
			c.run()
		}
		return
	}
	// Fast path: offer netpoll's bytes without copying them.
	c.busy = true
	h, gen := c.h, c.hgen
	c.mu.Unlock()
	p, _ := r.Peek(n)
	k := clamp(h.OnData(c, p), n)
	var overflow bool
	c.mu.Lock()
	c.offered = gen
	if k < n {
		if n-k > c.e.cfg.MaxInput {
			overflow = true
		} else {
			c.carry = append(c.carry, p[k:]...)
		}
	}
	c.mu.Unlock()
	r.Skip(n)
	r.Release()
	if overflow {
		c.CloseWithError(fmt.Errorf("netpoll: more than %d unconsumed bytes: %w", c.e.cfg.MaxInput, poller.ErrInputLimit))
	}
	c.run()
}

// heldOverLocked reports whether n more bytes would take the input held for
// a paused handler past MaxInput; mu is held. Bytes on their way to a
// handler that is not paused are not counted, whoever runs it: netpoll
// would buffer them just the same while its own task ran the handler, and
// closing a peer that sends fast because a goroutine was scheduled late
// would cut a correct stream (a large message in small frames) for the
// server's load. What the handler is offered and leaves unconsumed is
// checked after each OnData.
func (c *conn) heldOverLocked(n int) bool {
	return c.paused && len(c.carry)+len(c.inbox)+n > c.e.cfg.MaxInput
}

func clamp(k, n int) int {
	return min(max(k, 0), n)
}

// run delivers every pending event; the caller set busy. It returns with
// busy cleared, or for good once OnClose ran.
func (c *conn) run() {
	c.mu.Lock()
	for {
		if !c.opened {
			c.opened = true
			h := c.h
			c.mu.Unlock()
			h.OnOpen(c)
			c.mu.Lock()
			continue
		}
		if len(c.inbox) > 0 {
			c.carry = append(c.carry, c.inbox...)
			c.inbox = c.inbox[:0]
			c.fresh = true
		}
		if c.closeDue {
			c.done = true
			h, err := c.h, c.closeErr
			c.carry, c.inbox = nil, nil
			c.mu.Unlock()
			h.OnClose(c, err)
			c.e.remove(c)
			return
		}
		h, gen := c.h, c.hgen
		pending := len(c.carry) > 0 && (c.fresh || c.reoffer || gen != c.offered)
		if c.eof && !c.asked && !c.closing && (!c.paused && !pending || c.paused && c.closeErr != io.EOF) {
			// Everything that came before the peer's FIN was offered
			// (a reset does not wait for a paused handler: nobody is
			// left to answer).
			c.asked = true
			c.mu.Unlock()
			c.endRead(h)
			c.mu.Lock()
			continue
		}
		if c.paused || c.closing || c.asked || !pending {
			break
		}
		c.fresh, c.reoffer = false, false
		buf := c.carry
		c.mu.Unlock()
		k := clamp(h.OnData(c, buf), len(buf))
		c.mu.Lock()
		c.offered = gen
		rest := copy(c.carry, c.carry[k:])
		c.carry = c.carry[:rest]
		if rest == 0 && cap(c.carry) > keepCarry {
			c.carry = nil
		}
		if rest > c.e.cfg.MaxInput && !c.closing {
			c.mu.Unlock()
			c.CloseWithError(fmt.Errorf("netpoll: more than %d unconsumed bytes: %w", c.e.cfg.MaxInput, poller.ErrInputLimit))
			c.mu.Lock()
		}
	}
	c.busy = false
	c.mu.Unlock()
}

// onClosed is netpoll's close callback: it runs once, after any OnRequest
// task ended and before netpoll closes the descriptor. When the peer went
// with a FIN and something may still be written, the descriptor is
// duplicated first, so the handler can still be answered after netpoll
// closed its own (netpoll has no way to keep a half-closed connection, it
// closes on EPOLLRDHUP); the duplicate is ours to close. Bytes already
// read are offered before anything else (run), so OnClose never overtakes
// them.
func (c *conn) onClosed(netpoll.Connection) error {
	c.mu.Lock()
	byPeer := !c.closing
	var cause error = io.EOF
	if byPeer {
		if soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soErr != 0 {
			cause = fmt.Errorf("netpoll: %w", syscall.Errno(soErr))
		}
		// netpoll may close before OnRequest ever ran for the last bytes
		// it read: when the hang-up is handled between SetOnRequest
		// storing the callback and its check of the buffer, the close
		// callback wins the processing lock and OnRequest never comes.
		// Nothing feeds the buffer any more (the poller let go), so take
		// them here.
		if r := c.nc.Reader(); r.Len() > 0 {
			n := r.Len()
			if c.heldOverLocked(n) {
				cause = fmt.Errorf("netpoll: more than %d unconsumed bytes: %w", c.e.cfg.MaxInput, poller.ErrInputLimit)
			} else if p, err := r.Peek(n); err == nil {
				if c.busy {
					c.inbox = append(c.inbox, p...)
				} else {
					c.carry = append(c.carry, p...)
					c.fresh = true
				}
			}
			r.Skip(n)
			r.Release()
		}
	}

	c.wmu.Lock()
	if c.armed {
		c.e.wpoll.forget(c)
	}
	if byPeer && cause == io.EOF && !c.fdClosed && !(c.wclosed && len(c.queue) == 0) {
		if nfd, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0); err == nil {
			c.wfd, c.ownFD = nfd, true
			if len(c.queue) > 0 {
				if err := c.armLocked(); err != nil {
					c.failed = fmt.Errorf("netpoll: write: %w", err)
					c.releaseLocked()
				}
			}
		} else {
			c.dupErr = err
		}
	}
	if !c.ownFD {
		c.fdClosed = true
		c.wclosed = true
		if byPeer && c.failed == nil && c.written < c.enq {
			// Bytes were still waiting for a full socket: they are lost.
			lost := cause
			if lost == io.EOF {
				lost = io.ErrUnexpectedEOF
			}
			c.failed = fmt.Errorf("netpoll: peer closed with %d bytes unwritten: %w", c.enq-c.written, lost)
		}
		c.dropQueueLocked()
	}
	c.wmu.Unlock()

	if byPeer {
		c.eof = true
		c.closeErr = cause
	} else {
		c.closeDue = true
	}
	c.kickLocked()
	c.mu.Unlock()
	return nil
}

// endRead reports the read EOF to h once everything before it was
// offered, and settles what the write side does next: keep going until
// CloseWrite or Close (OnReadEOF said true), or write what is queued and
// close (the default). A reset ends the connection at once.
func (c *conn) endRead(h poller.Handler) {
	c.mu.Lock()
	cause := c.closeErr
	c.mu.Unlock()
	keep := false
	if hc, ok := h.(poller.HalfCloseHandler); ok && cause == io.EOF {
		keep = hc.OnReadEOF(c)
	}
	c.wmu.Lock()
	due := false
	switch {
	case c.fdClosed:
		due = true
		if c.failed != nil {
			cause = c.failed // queued bytes were lost: say so
		} else if keep && c.dupErr != nil {
			cause = fmt.Errorf("netpoll: the peer half-closed and the answer cannot be sent: keeping the descriptor failed: %w", c.dupErr)
			if c.failed == nil {
				c.failed = cause
			}
		}
	case keep:
		c.half = true
		if c.finSent {
			// CloseWrite's FIN went out while OnReadEOF ran.
			c.releaseLocked()
			due = true
		}
	default:
		c.wclosed = true
		if len(c.queue) == 0 {
			c.releaseLocked()
			due = true
		} else {
			c.drainEnd = true
		}
	}
	c.wmu.Unlock()
	if due {
		c.finish(cause)
	}
}

// finish delivers OnClose with err unless Close already chose the reason.
func (c *conn) finish(err error) {
	c.mu.Lock()
	if !c.closeDue {
		if !c.closing {
			c.closeErr = err
		}
		c.closeDue = true
		c.kickLocked()
	}
	c.mu.Unlock()
}

// releaseLocked closes our duplicate descriptor once the connection is
// done with it; wmu is held.
func (c *conn) releaseLocked() {
	if c.armed {
		c.e.wpoll.forget(c)
	}
	if c.ownFD && !c.fdClosed {
		unix.Close(c.wfd)
	}
	c.fdClosed = true
	c.wclosed = true
	c.dropQueueLocked()
}

func (c *conn) Close() error { return c.CloseWithError(nil) }

func (c *conn) CloseWithError(err error) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return fmt.Errorf("netpoll: close: %w", poller.ErrClosed)
	}
	c.closing = true
	c.closeErr = err
	c.mu.Unlock()
	c.wmu.Lock()
	c.wclosed = true
	if c.failed == nil {
		c.failed = err
	}
	c.dropQueueLocked()
	gone := c.ownFD || c.fdClosed
	if c.ownFD {
		// netpoll is done with this connection (the peer's FIN): the
		// descriptor left is ours.
		c.releaseLocked()
	} else if !c.fdClosed {
		// Shut the socket down and let netpoll's poller see the hang-up
		// and close it, as when the peer closes. Calling netpoll's Close
		// from here raced with a hang-up the poller was handling at the
		// same moment, and under load that closed the next connection
		// given the same descriptor number. A socket that cannot be shut
		// down was reset, which the poller sees as well.
		unix.Shutdown(c.wfd, unix.SHUT_RDWR)
	}
	c.wmu.Unlock()
	if gone {
		// No close callback is coming (it ran already).
		c.finish(err)
	}
	return nil
}

// dropQueueLocked forgets queued output and wakes waiters; wmu is held.
func (c *conn) dropQueueLocked() {
	for i, b := range c.queue {
		putChunk(b)
		c.queue[i] = nil
	}
	c.queue = c.queue[:0]
	c.qoff = 0
	c.queued = 0
	c.notifyLocked()
}

// notifyLocked wakes Flush callers; wmu is held.
func (c *conn) notifyLocked() {
	if c.progress != nil {
		close(c.progress)
		c.progress = nil
	}
}

func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		return fmt.Errorf("netpoll: close write: %w", poller.ErrClosed)
	}
	c.wclosed = true
	if len(c.queue) > 0 {
		c.wantFIN = true
		c.wmu.Unlock()
		return nil
	}
	if err := unix.Shutdown(c.wfd, unix.SHUT_WR); err != nil {
		c.wmu.Unlock()
		return fmt.Errorf("netpoll: close write: %w", err)
	}
	c.finSent = true
	end := c.half
	if end {
		// The peer's FIN came first: both directions are done.
		c.releaseLocked()
	}
	c.wmu.Unlock()
	if end {
		c.finish(io.EOF)
	}
	return nil
}

func (c *conn) Buffered() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.queued
}

// admitLocked checks that n more bytes may be written; wmu is held.
func (c *conn) admitLocked(n int) error {
	if c.wclosed {
		return fmt.Errorf("netpoll: write: %w", poller.ErrClosed)
	}
	if c.queued > 0 && c.queued+n > c.e.cfg.MaxOutput {
		return fmt.Errorf("netpoll: write of %d bytes with %d queued: %w", n, c.queued, poller.ErrOutputLimit)
	}
	return nil
}

func (c *conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	if err := c.admitLocked(len(b)); err != nil {
		c.wmu.Unlock()
		return 0, err
	}
	c.enq += uint64(len(b))
	if len(c.queue) > 0 {
		c.appendLocked(b)
		c.wmu.Unlock()
		return len(b), nil
	}
	n, err := c.writeFD(b)
	c.written += uint64(n)
	if err != nil {
		c.wmu.Unlock()
		return 0, c.failWrite(err)
	}
	if n < len(b) {
		c.appendLocked(b[n:])
		if err := c.armLocked(); err != nil {
			c.wmu.Unlock()
			return 0, c.failWrite(err)
		}
	}
	c.wmu.Unlock()
	return len(b), nil
}

func (c *conn) Writev(bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	if err := c.admitLocked(total); err != nil {
		c.wmu.Unlock()
		return 0, err
	}
	c.enq += uint64(total)
	if len(c.queue) > 0 {
		for _, b := range bufs {
			c.appendLocked(b)
		}
		c.wmu.Unlock()
		return total, nil
	}
	n, err := c.writevFD(bufs)
	c.written += uint64(n)
	if err != nil {
		c.wmu.Unlock()
		return 0, c.failWrite(err)
	}
	if n < total {
		for _, b := range bufs {
			if n >= len(b) {
				n -= len(b)
				continue
			}
			c.appendLocked(b[n:])
			n = 0
		}
		if err := c.armLocked(); err != nil {
			c.wmu.Unlock()
			return 0, c.failWrite(err)
		}
	}
	c.wmu.Unlock()
	return total, nil
}

// failWrite closes the connection after a failed direct write.
func (c *conn) failWrite(err error) error {
	err = fmt.Errorf("netpoll: write: %w", err)
	c.wmu.Lock()
	if c.failed == nil {
		c.failed = err
	}
	c.wmu.Unlock()
	c.CloseWithError(err)
	return err
}

// writeFD writes b to the non-blocking socket; wmu is held, so the close
// callback cannot let netpoll close fd meanwhile. A full socket is n < len(b)
// with a nil error.
func (c *conn) writeFD(b []byte) (int, error) {
	if c.fdClosed {
		return 0, poller.ErrClosed
	}
	for {
		n, err := unix.Write(c.wfd, b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, err
	}
}

// writevFD is writeFD for several buffers, without allocating for up to
// len(c.iov) of them.
func (c *conn) writevFD(bufs [][]byte) (int, error) {
	if c.fdClosed {
		return 0, poller.ErrClosed
	}
	total := 0
	for i := 0; i < len(bufs); {
		var iov []unix.Iovec
		if len(bufs)-i <= len(c.iov) {
			iov = c.iov[:0]
		} else {
			iov = make([]unix.Iovec, 0, min(len(bufs)-i, maxIov))
		}
		want, j := 0, i
		for ; j < len(bufs) && len(iov) < cap(iov); j++ {
			if b := bufs[j]; len(b) > 0 {
				iov = append(iov, unix.Iovec{Base: &b[0]})
				iov[len(iov)-1].SetLen(len(b))
				want += len(b)
			}
		}
		n, err := writev(c.wfd, iov)
		clear(iov)
		if err != nil {
			if err == unix.EAGAIN {
				return total, nil
			}
			return total, err
		}
		total += n
		if n < want {
			return total, nil
		}
		i = j
	}
	return total, nil
}

// writev is the raw system call (unix.Writev allocates its iovecs).
func writev(fd int, iov []unix.Iovec) (int, error) {
	if len(iov) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// appendLocked copies b to the queue, filling the last chunk first.
func (c *conn) appendLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	c.queued += len(b)
	if k := len(c.queue); k > 0 {
		last := c.queue[k-1]
		if cap(last) == chunkSize && len(last)+len(b) <= chunkSize {
			c.queue[k-1] = append(last, b...)
			return
		}
	}
	var chunk []byte
	if len(b) <= chunkSize {
		chunk = getChunk()
	} else {
		chunk = make([]byte, 0, len(b))
	}
	c.queue = append(c.queue, append(chunk, b...))
}

// armLocked waits for the socket to take the backlog; wmu is held.
func (c *conn) armLocked() error {
	wp, err := c.e.writePoller()
	if err != nil {
		return err
	}
	return wp.arm(c)
}

// onWritable runs on the write poller's goroutine when a full socket has
// room again: it writes as much of the backlog as the socket takes and
// re-arms for the rest. The writes are non-blocking, so one goroutine
// serves every connection of the engine.
func (c *conn) onWritable() {
	c.wmu.Lock()
	if c.fdClosed || len(c.queue) == 0 {
		c.wmu.Unlock()
		return
	}
	for len(c.queue) > 0 {
		iov := c.iov[:0]
		if len(c.queue) > len(c.iov) {
			iov = make([]unix.Iovec, 0, min(len(c.queue), maxIov))
		}
		want := 0
		for i := 0; i < len(c.queue) && len(iov) < cap(iov); i++ {
			b := c.queue[i]
			if i == 0 {
				b = b[c.qoff:]
			}
			iov = append(iov, unix.Iovec{Base: &b[0]})
			iov[len(iov)-1].SetLen(len(b))
			want += len(b)
		}
		n, err := writev(c.wfd, iov)
		clear(iov)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			c.wmu.Unlock()
			c.failWrite(err)
			return
		}
		c.consumeLocked(n)
		if n < want {
			break
		}
	}
	end := false
	if len(c.queue) > 0 {
		if err := c.e.wpoll.arm(c); err != nil {
			c.wmu.Unlock()
			c.failWrite(err)
			return
		}
	} else if c.wantFIN {
		c.wantFIN = false
		if err := unix.Shutdown(c.wfd, unix.SHUT_WR); err == nil {
			c.finSent = true
		}
		end = c.half
	}
	end = end || len(c.queue) == 0 && c.drainEnd
	if end {
		// After the read EOF: the last of the answer is out.
		c.releaseLocked()
	}
	c.notifyLocked()
	c.wmu.Unlock()
	if end {
		c.finish(io.EOF)
	}
}

// consumeLocked drops n written bytes from the front of the queue.
func (c *conn) consumeLocked(n int) {
	c.written += uint64(n)
	c.queued -= n
	for n > 0 {
		head := c.queue[0]
		if left := len(head) - c.qoff; n < left {
			c.qoff += n
			return
		} else {
			n -= left
		}
		putChunk(head)
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qoff = 0
	}
	if len(c.queue) == 0 {
		c.queue = nil
	}
}

// Flush waits until the bytes accepted before the call are written; see
// poller.Conn.
func (c *conn) Flush(ctx context.Context) error {
	c.wmu.Lock()
	target := c.enq
	for {
		if c.written >= target {
			c.wmu.Unlock()
			return nil
		}
		if c.failed != nil {
			err := c.failed
			c.wmu.Unlock()
			return fmt.Errorf("netpoll: flush: %w", err)
		}
		if c.fdClosed {
			// Closed cleanly: the rest was dropped on purpose.
			c.wmu.Unlock()
			return nil
		}
		if c.progress == nil {
			c.progress = make(chan struct{})
		}
		ch := c.progress
		c.wmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("netpoll: flush: %w", ctx.Err())
		}
		c.wmu.Lock()
	}
}
