//go:build linux

package epoll

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/internal/bufpool"
	"github.com/rawws/rawws/poller"
)

// Connection flags, changed under conn.mu and read atomically anywhere.
const (
	fClosed  uint32 = 1 << iota // Close/CloseWithError or a failure: no more writes, finalize pending
	fWClosed                    // CloseWrite: no more writes
	fPaused                     // PauseRead
	fReg                        // registered with the loop's epoll
	fInOff                      // EPOLLIN interest dropped while paused
	fOutOn                      // EPOLLOUT interest on: the queue waits for room
	fFinal                      // fd closed, OnClose called or running
	fShutWr                     // shutdown(SHUT_WR) done
	fResumeQ                    // a resume task is queued
	fInData                     // the loop is in this connection's OnData
	fCorked                     // the loop's cork holds this connection's bytes, written during OnData
	fInOpen                     // the loop is in this connection's OnOpen: nothing was offered yet
	fHalf                       // OnReadEOF kept it open for writing: it ends at CloseWrite's FIN or a Close
)

// corkMax bounds the bytes a connection holds back while its handler runs
// (see Writev) and is the size of each loop's cork buffer; a write that
// would pass it sends them at once.
const corkMax = 32 << 10

// Loop-only flags (conn.lf).
const (
	lReady uint8 = 1 << iota // on the loop's ready list
	lEOF                     // read returned 0
	lAsked                   // the read EOF was reported (OnReadEOF or the default): no OnData from now on
)

// conn is one connection. It is kept small on purpose (96 bytes on amd64):
// an idle connection owns nothing else but its slot-table entry. Unconsumed
// input (in) and the output queue (x) exist only while they hold bytes.
type conn struct {
	mu    sync.Mutex
	flags atomic.Uint32
	fd    int32
	gen   uint32 // generation in epoll data: stale events are ignored
	slot  int32  // index in loop.conns
	lf    uint8  // loop-only flags
	rfam  uint8  // 4, 6, or 0: remote address in org.raddr
	rport uint16
	hver  uint16 // bumped by SetHandler
	raddr [16]byte
	loop  *loop
	h     poller.Handler
	in    *[]byte // unconsumed input, loop-only; nil when none
	x     *ext    // output queue and close reason, under mu; nil when idle
	org   *origin
}

// ext is the part of a connection that exists only while it has queued
// output, Flush callers, a recorded close reason or a user context: the
// few connections that need one pay for it, not every idle one.
type ext struct {
	ctx       any       // SetContext's value
	bufs      []*[]byte // queued chunks; bufs[0][off:] is next
	off       int
	n         int    // queued bytes
	sent      uint64 // bytes taken from the queue so far (Flush targets)
	wait      chan struct{}
	reason    error
	hasReason bool
	failed    bool // closed by an error: queued bytes were lost, Flush fails
}

func (c *conn) ext() *ext {
	if c.x == nil {
		c.x = &ext{}
	}
	return c.x
}

// dropExtLocked forgets an ext that holds nothing worth keeping.
func (c *conn) dropExtLocked() {
	if x := c.x; x != nil && x.n == 0 && x.wait == nil && !x.hasReason && x.ctx == nil {
		c.x = nil
	}
}

// maxChunk bounds one output-queue chunk, and a carry larger than it is
// traded for a smaller one once its big message was consumed. Chunks of at
// most 64 KiB (the loop's default read buffer) go back to the pool one by
// one as a slow peer drains the queue, instead of one large buffer staying
// pinned until its last byte is written.
const maxChunk = 64 << 10

// appendBufs copies bufs, minus the first skip bytes, to the queue.
func (x *ext) appendBufs(bufs [][]byte, skip int) {
	for _, b := range bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		x.n += len(b)
		for len(b) > 0 {
			if k := len(x.bufs); k > 0 {
				last := x.bufs[k-1]
				if room := cap(*last) - len(*last); room > 0 {
					m := min(room, len(b))
					*last = append(*last, b[:m]...)
					b = b[m:]
					continue
				}
			}
			nb := bufpool.Get(min(len(b), maxChunk))
			m := min(cap(*nb), len(b))
			*nb = append(*nb, b[:m]...)
			b = b[m:]
			x.bufs = append(x.bufs, nb)
		}
	}
}

// maxIov bounds the iovecs of one writev (Linux IOV_MAX is 1024); they live
// on the stack.
const maxIov = 64

// writeTo writes queued bytes until the queue is empty or the socket is
// full (EAGAIN is returned then).
func (x *ext) writeTo(fd int) (int, error) {
	total := 0
	for x.n > 0 {
		var iov [maxIov]unix.Iovec
		k := 0
		want := 0
		for i := 0; i < len(x.bufs) && k < maxIov; i++ {
			b := *x.bufs[i]
			if i == 0 {
				b = b[x.off:]
			}
			iov[k].Base = unsafe.SliceData(b)
			iov[k].SetLen(len(b))
			want += len(b)
			k++
		}
		n, err := rawWritev(fd, &iov[0], k)
		if n > 0 {
			x.consume(n)
			total += n
		}
		if err != nil {
			return total, err
		}
		if n < want {
			return total, unix.EAGAIN
		}
	}
	return total, nil
}

// consume removes n written bytes from the queue.
func (x *ext) consume(n int) {
	x.n -= n
	x.sent += uint64(n)
	for n > 0 {
		b := x.bufs[0]
		left := len(*b) - x.off
		if n < left {
			x.off += n
			return
		}
		n -= left
		bufpool.Put(b)
		x.bufs[0] = nil
		x.bufs = x.bufs[1:]
		x.off = 0
	}
	if len(x.bufs) == 0 {
		x.bufs = nil
	}
}

// drop discards the queue (the connection is gone).
func (x *ext) drop() {
	for i, b := range x.bufs {
		bufpool.Put(b)
		x.bufs[i] = nil
	}
	x.bufs, x.off, x.n = nil, 0, 0
}

// notify wakes Flush callers so they re-check their target.
func (x *ext) notify() {
	if x.wait != nil {
		close(x.wait)
		x.wait = nil
	}
}

// rawWritev is writev(2) retried on EINTR. Every descriptor the engine
// owns is non-blocking, so the call never waits on the peer: it is made
// with RawSyscall, which skips the scheduler's enter/exit-syscall
// bookkeeping (measured: about 3% more echo throughput, see doc.go). The
// longest it can take is copying one socket buffer's worth of bytes.
func rawWritev(fd int, iov *unix.Iovec, n int) (int, error) {
	for {
		r, _, errno := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(r), nil
	}
}

// writevFD writes bufs with as few writev calls as possible; it stops at
// the first short write.
func writevFD(fd int, bufs [][]byte) (int, error) {
	total := 0
	for len(bufs) > 0 {
		var iov [maxIov]unix.Iovec
		k, want := 0, 0
		for len(bufs) > 0 && k < maxIov {
			b := bufs[0]
			bufs = bufs[1:]
			if len(b) == 0 {
				continue
			}
			iov[k].Base = unsafe.SliceData(b)
			iov[k].SetLen(len(b))
			want += len(b)
			k++
		}
		if k == 0 {
			break
		}
		n, err := rawWritev(fd, &iov[0], k)
		total += n
		if err != nil || n < want {
			return total, err
		}
	}
	return total, nil
}

// interest is the epoll event mask for flags f.
func interest(f uint32) uint32 {
	ev := uint32(unix.EPOLLET)
	if f&fInOff == 0 {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if f&fOutOn != 0 {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// modLocked applies interest(f) if c is registered and open; c.mu is held.
func (c *conn) modLocked(f uint32) {
	if f&(fReg|fFinal) != fReg {
		return
	}
	ev := unix.EpollEvent{Events: interest(f), Fd: c.slot, Pad: int32(c.gen)}
	unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev)
}

// uncorkLocked writes the bytes held back during OnData (see Writev) and
// returns the flags after it: what the socket does not take waits for
// EPOLLOUT like any queue. A write error records the reason, sets fClosed
// and reports failed: the caller posts the close once c.mu is released.
// c.mu is held.
func (c *conn) uncorkLocked(f uint32) (_ uint32, failed bool) {
	f &^= fCorked
	c.flags.Store(f)
	l := c.loop
	b := l.cork
	l.cork = b[:0]
	if len(b) == 0 || f&fFinal != 0 {
		return f, false
	}
	if x := c.x; x != nil && x.n > 0 {
		// Not reached while the invariant holds (corked bytes exist only
		// with an empty queue), but order is what matters: behind the
		// queue, whose EPOLLOUT is on.
		x.appendBufs([][]byte{b}, 0)
		return f, false
	}
	iov := unix.Iovec{Base: unsafe.SliceData(b)}
	iov.SetLen(len(b))
	n, err := rawWritev(int(c.fd), &iov, 1)
	if err != nil && err != unix.EAGAIN {
		failed = c.setReasonLocked(fmt.Errorf("epoll: write: %w", err), true)
		return c.flags.Load(), failed
	}
	if n < len(b) {
		c.ext().appendBufs([][]byte{b}, n)
		if f&fOutOn == 0 {
			f |= fOutOn
			c.flags.Store(f)
			c.modLocked(f)
		}
	}
	return f, false
}

// Write writes b to the socket or, for what the kernel does not take at
// once, copies it to the output queue, which the loop drains when the
// socket becomes writable. It never blocks on the peer. It returns len(b)
// on success; ErrOutputLimit (nothing queued) when the queue would exceed
// Config.MaxOutput; ErrClosed after Close/CloseWrite; or the socket error,
// which also closes the connection.
func (c *conn) Write(b []byte) (int, error) {
	one := [1][]byte{b}
	return c.Writev(one[:])
}

// Writev is Write for several buffers, sent with one writev when the queue
// is empty; they are written in order and never interleaved with other
// writes.
func (c *conn) Writev(bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	maxOut := c.loop.e.cfg.MaxOutput
	c.mu.Lock()
	f := c.flags.Load()
	if f&(fClosed|fWClosed|fFinal) != 0 {
		c.mu.Unlock()
		return 0, fmt.Errorf("epoll: write: %w", poller.ErrClosed)
	}
	if total == 0 {
		c.mu.Unlock()
		return 0, nil
	}
	if f&fCorked != 0 && len(c.loop.cork)+total > corkMax {
		var failed bool
		if f, failed = c.uncorkLocked(f); failed {
			c.mu.Unlock()
			c.loop.post(task{kind: taskClose, c: c})
			return 0, fmt.Errorf("epoll: write: %w", poller.ErrClosed)
		}
	}
	if x := c.x; x != nil && x.n > 0 {
		if queued := x.n; queued+total > maxOut {
			c.mu.Unlock() // queued was read under the lock: the loop may change x now
			return 0, fmt.Errorf("epoll: write of %d bytes with %d queued: %w", total, queued, poller.ErrOutputLimit)
		}
		x.appendBufs(bufs, 0)
		c.mu.Unlock()
		return total, nil
	}
	if f&fInData != 0 && total <= corkMax {
		// Answers written during OnData, the first one included, are
		// copied to the loop's cork and leave together in one write when
		// OnData returns (deliver): one syscall and one TCP segment per
		// read, however many requests it held. Only the connection in
		// OnData uses its loop's cork, always under its own mu, and the
		// cork is only ever non-empty while the queue is empty.
		c.loop.cork = appendAll(c.loop.cork, bufs)
		c.flags.Store(f | fCorked)
		c.mu.Unlock()
		return total, nil
	}
	n, err := writevFD(int(c.fd), bufs)
	if err != nil && err != unix.EAGAIN {
		c.setReasonLocked(fmt.Errorf("epoll: write: %w", err), true)
		c.mu.Unlock()
		c.loop.post(task{kind: taskClose, c: c})
		return n, fmt.Errorf("epoll: write: %w", err)
	}
	if n < total {
		c.ext().appendBufs(bufs, n)
		if f&fOutOn == 0 {
			f |= fOutOn
			c.flags.Store(f)
			c.modLocked(f)
		}
	}
	c.mu.Unlock()
	return total, nil
}

// Flush waits until every byte written before the call has left the output
// queue for the socket. It returns nil at once when nothing is queued, and
// nil after a clean Close (whose queued bytes are dropped by contract); an
// error wrapping poller.ErrClosed when the connection failed (reset, write
// error) with those bytes still queued; ctx's error when ctx ends first.
// It blocks: never call it from a handler method, whose loop is the one
// that drains the queue.
func (c *conn) Flush(ctx context.Context) error {
	c.mu.Lock()
	if f := c.flags.Load(); f&fCorked != 0 {
		// Held-back bytes count as written: a handler may flush them
		// itself before its OnData returns.
		if _, failed := c.uncorkLocked(f); failed {
			c.mu.Unlock()
			c.loop.post(task{kind: taskClose, c: c})
			return fmt.Errorf("epoll: flush: %w", poller.ErrClosed)
		}
	}
	x := c.x
	if x != nil && x.failed {
		c.mu.Unlock()
		return fmt.Errorf("epoll: flush: %w", poller.ErrClosed)
	}
	if x == nil || x.n == 0 {
		c.mu.Unlock()
		return nil
	}
	target := x.sent + uint64(x.n)
	for {
		if x.sent >= target {
			c.mu.Unlock()
			return nil
		}
		if c.flags.Load()&fFinal != 0 {
			failed := x.failed
			c.mu.Unlock()
			if failed {
				return fmt.Errorf("epoll: flush: %w", poller.ErrClosed)
			}
			return nil
		}
		if x.wait == nil {
			x.wait = make(chan struct{})
		}
		ch := x.wait
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("epoll: flush: %w", ctx.Err())
		}
		c.mu.Lock()
	}
}

// Buffered is the number of bytes in the output queue, those held back
// during OnData included.
func (c *conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if c.flags.Load()&fCorked != 0 {
		n = len(c.loop.cork)
	}
	if c.x != nil {
		n += c.x.n
	}
	return n
}

// appendAll appends every buffer of bufs to dst.
func appendAll(dst []byte, bufs [][]byte) []byte {
	for _, b := range bufs {
		dst = append(dst, b...)
	}
	return dst
}

// PauseRead stops OnData calls at once and stops reading the socket, so
// the kernel buffer fills and TCP pushes back on the peer. Read interest is
// dropped from epoll the first time data arrives while paused.
func (c *conn) PauseRead() {
	c.mu.Lock()
	c.flags.Store(c.flags.Load() | fPaused)
	c.mu.Unlock()
}

// ResumeRead undoes PauseRead: the loop offers the carried bytes, then
// reads the socket until it is drained.
func (c *conn) ResumeRead() {
	c.mu.Lock()
	f := c.flags.Load()
	if f&fPaused == 0 || f&fFinal != 0 {
		c.mu.Unlock()
		return
	}
	f &^= fPaused
	if f&fInOff != 0 {
		f &^= fInOff
		c.modLocked(f)
	}
	post := f&fResumeQ == 0
	f |= fResumeQ
	c.flags.Store(f)
	c.mu.Unlock()
	if post {
		c.loop.post(task{kind: taskResume, c: c})
	}
}

// SetHandler replaces the handler. Called from OnData, the bytes that call
// did not consume go to h right away; called from elsewhere, the loop
// offers h the bytes held back so far without waiting for new input.
// h gets no OnOpen.
func (c *conn) SetHandler(h poller.Handler) {
	if h == nil {
		panic("epoll: SetHandler(nil)")
	}
	c.mu.Lock()
	c.h = h
	c.hver++
	f := c.flags.Load()
	c.mu.Unlock()
	// From OnOpen there is nothing to offer yet (open delivers adopted
	// bytes after OnOpen, to the new handler): no task, no wake-up, so a
	// server that picks each connection's handler there pays nothing.
	if f&(fFinal|fInOpen) == 0 {
		c.loop.post(task{kind: taskOffer, c: c})
	}
}

// CloseWrite refuses further writes and sends FIN once the queue is
// written. Reading goes on until the peer closes; OnClose then reports
// io.EOF. It fails with ErrClosed after Close.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.flags.Load()
	if f&(fClosed|fFinal) != 0 {
		return fmt.Errorf("epoll: close write: %w", poller.ErrClosed)
	}
	if f&fWClosed != 0 {
		return nil
	}
	if f&fCorked != 0 {
		// The FIN goes after the held-back bytes, as it would have had
		// they been written when Write returned.
		var failed bool
		if f, failed = c.uncorkLocked(f); failed {
			c.loop.post(task{kind: taskClose, c: c})
			return fmt.Errorf("epoll: close write: %w", poller.ErrClosed)
		}
	}
	f |= fWClosed
	if c.x == nil || c.x.n == 0 {
		if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
			c.flags.Store(f)
			return fmt.Errorf("epoll: close write: %w", err)
		}
		f |= fShutWr
	}
	c.flags.Store(f)
	if f&(fHalf|fShutWr) == fHalf|fShutWr {
		// The peer's FIN came first: both directions are done, so the
		// connection ends now, as it would after a default read EOF.
		c.setReasonLocked(io.EOF, true)
		c.loop.post(task{kind: taskClose, c: c})
	}
	return nil
}

// Close closes the connection; queued output is dropped. The descriptor is
// closed and OnClose(c, nil) called on the loop shortly after (right after
// the current handler method when called from one). Writes fail from the
// moment Close returns. Closing twice is a no-op.
func (c *conn) Close() error { return c.CloseWithError(nil) }

// CloseWithError is Close with the error OnClose reports.
func (c *conn) CloseWithError(err error) error {
	c.mu.Lock()
	// Bytes held back during OnData need nothing here: the close runs on
	// the loop after OnData returned, and deliver sent them by then.
	post := c.setReasonLocked(err, true)
	c.mu.Unlock()
	if post {
		c.loop.post(task{kind: taskClose, c: c})
	}
	return nil
}

// setReason records why c closes unless a reason is already recorded.
func (c *conn) setReason(err error, markClosed bool) {
	c.mu.Lock()
	c.setReasonLocked(err, markClosed)
	c.mu.Unlock()
}

// setReasonLocked records the close reason and marks c closed; it reports
// whether c was open until now.
func (c *conn) setReasonLocked(err error, markClosed bool) bool {
	f := c.flags.Load()
	if f&(fClosed|fFinal) != 0 {
		return false
	}
	x := c.ext()
	x.reason, x.hasReason = err, true
	if markClosed {
		c.flags.Store(f | fClosed)
	}
	return true
}

// AfterFunc runs f after d on the engine's timing wheel.
func (c *conn) AfterFunc(d time.Duration, f func()) poller.Timer {
	return c.loop.e.wheel.AfterFunc(d, f)
}

// LocalAddr is the socket's local address; it is never nil.
func (c *conn) LocalAddr() net.Addr {
	if c.org.fixedLocal {
		return c.org.laddr
	}
	c.mu.Lock()
	var sa unix.Sockaddr
	var err error = unix.EBADF
	if c.flags.Load()&fFinal == 0 {
		sa, err = unix.Getsockname(int(c.fd))
	}
	c.mu.Unlock()
	if err != nil {
		return c.org.laddr
	}
	return sockaddrToAddr(sa)
}

// RemoteAddr is the peer's address; it is never nil.
func (c *conn) RemoteAddr() net.Addr {
	switch c.rfam {
	case 4:
		return &net.TCPAddr{IP: net.IPv4(c.raddr[0], c.raddr[1], c.raddr[2], c.raddr[3]), Port: int(c.rport)}
	case 6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), c.raddr[:]...)), Port: int(c.rport)}
	}
	if c.org.raddr != nil {
		return c.org.raddr
	}
	if _, ok := c.org.laddr.(*net.UnixAddr); ok {
		return &net.UnixAddr{Net: "unix"}
	}
	return unknownAddr{}
}

// setRemote stores an accepted peer's address compactly.
func (c *conn) setRemote(rsa *unix.RawSockaddrAny) {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		c.rfam = 4
		copy(c.raddr[:], a.Addr[:])
		c.rport = binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&a.Port))[:])
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		c.rfam = 6
		copy(c.raddr[:], a.Addr[:])
		c.rport = binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&a.Port))[:])
	}
}

// SetContext stores v for the user.
func (c *conn) SetContext(v any) {
	c.mu.Lock()
	if v != nil || c.x != nil {
		c.ext().ctx = v
		c.dropExtLocked()
	}
	c.mu.Unlock()
}

// Context returns what SetContext stored.
func (c *conn) Context() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil {
		return nil
	}
	return c.x.ctx
}
