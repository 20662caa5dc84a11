//go:build linux

package epoll

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/internal/bufpool"
	"github.com/rawws/rawws/internal/grow"
	"github.com/rawws/rawws/poller"
)

type taskKind uint8

const (
	taskOpen     taskKind = iota // register, OnOpen, offer adopted bytes
	taskClose                    // Close/CloseWithError or a failed write
	taskResume                   // ResumeRead: offer carried bytes, read again
	taskOffer                    // SetHandler: offer carried bytes to the new handler
	taskCloseAll                 // Shutdown ran out of time
	taskStop                     // release the loop
	taskListen                   // watch a listening socket
	taskUnlisten                 // stop watching it and close it
	taskRelisten                 // accept again after running out of fds
	taskFunc                     // run fn on the loop (tests inspect loop-owned state)
)

// task is work handed to a loop from another goroutine.
type task struct {
	c    *conn
	lr   *listener
	fn   func()
	err  error
	kind taskKind
}

// readBudget bounds the reads one readiness event may do on a connection
// before the others get a turn; a connection with more pending goes on the
// ready list and is read again after the next non-blocking epoll_wait.
const readBudget = 8

// eventfdSlot marks the eventfd in epoll data.
const eventfdSlot = -1

// loop is one event loop: an epoll instance served by one goroutine.
// Fields above mu belong to the loop goroutine alone.
type loop struct {
	e      *Engine
	epfd   int
	efd    int
	buf    []byte // shared read buffer, allocated when the loop starts
	cork   []byte // answers written during the current OnData (conn.Writev), len 0 between calls
	events []unix.EpollEvent
	conns  []*conn // slot table: epoll data carries (slot, generation)
	free   []int32 // free slots
	gen    uint32  // last generation handed out
	ready  []*conn // connections read up to the budget, not yet drained
	spare  []*conn
	work   []task
	lns    []*listener // epoll data of listener i is -2-i

	mu      sync.Mutex
	tasks   []task
	woken   bool // an eventfd write is pending for the tasks
	stopped bool // fds closed: post drops tasks
}

func newLoop(e *Engine) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: eventfdSlot}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return &loop{e: e, epfd: epfd, efd: efd, events: make([]unix.EpollEvent, 128)}, nil
}

// closeFDs releases the epoll instance and the eventfd; later posts are
// dropped, so a stale wake-up never writes to a reused descriptor.
func (l *loop) closeFDs() {
	l.mu.Lock()
	l.stopped = true
	l.tasks = nil
	l.mu.Unlock()
	unix.Close(l.efd)
	unix.Close(l.epfd)
	for i, lr := range l.lns {
		if lr != nil {
			unix.Close(lr.fd)
			l.lns[i] = nil
		}
	}
}

var wakeValue = [8]byte{1}

// post queues t and wakes the loop unless a wake-up is already pending.
func (l *loop) post(t task) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.tasks = append(l.tasks, t)
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		unix.Write(l.efd, wakeValue[:])
	}
}

func (l *loop) run() {
	defer l.e.wg.Done()
	if l.e.opt.LockOSThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	l.buf = make([]byte, l.e.opt.ReadBufferSize)
	l.cork = make([]byte, 0, corkMax)
	defer l.closeFDs()
	var drain [8]byte
	for {
		timeout := -1
		if len(l.ready) > 0 {
			timeout = 0
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err != nil && err != unix.EINTR {
			panic(fmt.Sprintf("epoll: epoll_wait: %v", err))
		}
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			if ev.Fd == eventfdSlot {
				unix.Read(l.efd, drain[:])
				continue
			}
			if ev.Fd < eventfdSlot {
				l.accept(int(-2 - ev.Fd))
				continue
			}
			l.event(ev)
		}
		if len(l.ready) > 0 {
			l.ready, l.spare = l.spare[:0], l.ready
			for i, c := range l.spare {
				l.spare[i] = nil
				c.lf &^= lReady
				if c.flags.Load()&(fFinal|fClosed|fPaused) == 0 {
					l.readLoop(c, true)
				}
			}
		}
		if l.runTasks() {
			return
		}
	}
}

// runTasks runs what other goroutines posted; it reports a stop request.
func (l *loop) runTasks() bool {
	l.mu.Lock()
	if len(l.tasks) == 0 {
		l.mu.Unlock()
		return false
	}
	l.tasks, l.work = l.work[:0], l.tasks
	l.woken = false
	l.mu.Unlock()
	stop := false
	for i := range l.work {
		t := l.work[i]
		l.work[i] = task{}
		switch t.kind {
		case taskOpen:
			l.open(t.c)
		case taskClose:
			l.finalize(t.c, nil)
		case taskResume:
			l.resume(t.c)
		case taskOffer:
			c := t.c
			if c.in != nil && c.lf&lAsked == 0 && c.flags.Load()&(fFinal|fClosed|fPaused) == 0 {
				l.deliver(c, *c.in, true)
				l.closing(c)
			}
		case taskCloseAll:
			for _, c := range l.conns {
				if c != nil {
					c.setReason(t.err, false)
					l.finalize(c, nil)
				}
			}
		case taskStop:
			stop = true
		case taskFunc:
			t.fn()
		case taskListen:
			l.listen(t.lr)
		case taskUnlisten:
			l.unlisten(t.lr)
		case taskRelisten:
			if lr := t.lr; lr.idx >= 0 && lr.paused {
				lr.paused = false
				ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(-2 - lr.idx)}
				unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, lr.fd, &ev)
			}
		}
	}
	return stop
}

// open registers c, calls OnOpen and offers bytes adopted with it.
func (l *loop) open(c *conn) {
	var slot int32
	if n := len(l.free); n > 0 {
		slot = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		slot = int32(len(l.conns))
		l.conns = grow.Append(l.conns, nil)
	}
	l.conns[slot] = c
	l.gen++
	c.mu.Lock()
	c.slot, c.gen = slot, l.gen
	f := c.flags.Load() | fReg
	ev := unix.EpollEvent{Events: interest(f), Fd: slot, Pad: int32(c.gen)}
	err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &ev)
	if err == nil {
		c.flags.Store(f | fInOpen)
	}
	h := c.h
	c.mu.Unlock()
	if err != nil {
		l.finalize(c, fmt.Errorf("epoll: register: %w", err))
		return
	}
	h.OnOpen(c)
	c.mu.Lock()
	c.flags.Store(c.flags.Load() &^ fInOpen)
	c.mu.Unlock()
	if l.closing(c) {
		return
	}
	if c.in != nil && c.flags.Load()&fPaused == 0 {
		l.deliver(c, *c.in, true)
		l.closing(c)
	}
}

// closing finalizes c if Close was called (typically from inside a
// handler method); it reports whether c is gone.
func (l *loop) closing(c *conn) bool {
	f := c.flags.Load()
	if f&fFinal != 0 {
		return true
	}
	if f&fClosed != 0 {
		l.finalize(c, nil)
		return true
	}
	return false
}

// event dispatches one epoll event.
func (l *loop) event(ev *unix.EpollEvent) {
	slot := ev.Fd
	if slot < 0 || int(slot) >= len(l.conns) {
		return
	}
	c := l.conns[slot]
	if c == nil || c.gen != uint32(ev.Pad) {
		return // stale: the slot was freed (and maybe reused) since
	}
	evs := ev.Events
	if evs&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && c.flags.Load()&fOutOn != 0 {
		l.writable(c)
	}
	if evs&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	f := c.flags.Load()
	switch {
	case f&fFinal != 0:
	case f&fClosed != 0:
		l.finalize(c, nil)
	case c.lf&lEOF != 0:
		// Nothing is left to read. A connection kept open for writing
		// learns of a reset here when it has nothing queued (a queue
		// would have failed in writable above).
		if evs&unix.EPOLLERR != 0 || evs&unix.EPOLLHUP != 0 && f&fHalf != 0 {
			l.finalize(c, sockError(c))
		}
	case f&fPaused != 0:
		if evs&unix.EPOLLERR != 0 {
			l.finalize(c, sockError(c))
			return
		}
		// Lazily drop read interest: only a paused connection the peer
		// keeps sending to pays for the epoll_ctl.
		c.mu.Lock()
		if f := c.flags.Load(); f&(fPaused|fInOff|fFinal) == fPaused {
			f |= fInOff
			c.flags.Store(f)
			c.modLocked(f)
		}
		c.mu.Unlock()
	default:
		l.readLoop(c, evs&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// sockError returns the pending socket error of c (SO_ERROR).
func sockError(c *conn) error {
	v, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return fmt.Errorf("epoll: socket error: %w", err)
	}
	if v == 0 {
		return fmt.Errorf("epoll: socket error: %w", unix.ECONNRESET)
	}
	return fmt.Errorf("epoll: socket error: %w", unix.Errno(v))
}

// resume runs a ResumeRead on the loop: offer what was carried, then read
// until EAGAIN, since edge-triggered readiness may have been consumed while
// paused.
func (l *loop) resume(c *conn) {
	c.mu.Lock()
	f := c.flags.Load() &^ fResumeQ
	c.flags.Store(f)
	c.mu.Unlock()
	if f&(fFinal|fClosed|fPaused) != 0 || c.lf&lAsked != 0 {
		l.closing(c)
		return
	}
	if c.in != nil {
		l.deliver(c, *c.in, true)
		if l.closing(c) || c.flags.Load()&fPaused != 0 {
			return
		}
	}
	if c.lf&lEOF != 0 {
		l.peerClosed(c)
		return
	}
	l.readLoop(c, true)
}

// readLoop reads c and hands the bytes to its handler until the socket is
// drained, the budget is spent, the connection is paused or closed. With
// untilAgain false a short read counts as drained: any later arrival
// raises a new edge.
func (l *loop) readLoop(c *conn, untilAgain bool) {
	maxIn := l.e.cfg.MaxInput
	for budget := readBudget; ; budget-- {
		if budget == 0 {
			if c.lf&lReady == 0 {
				c.lf |= lReady
				l.ready = append(l.ready, c)
			}
			return
		}
		if c.flags.Load()&(fFinal|fClosed|fPaused) != 0 {
			l.closing(c)
			return
		}
		if c.lf&lEOF != 0 {
			return
		}
		var target []byte
		viaCarry := false
		k := 0
		if c.in != nil && len(*c.in) > len(l.buf)/2 {
			// A large unconsumed tail (a handler waiting for a whole big
			// message): read behind it in its own buffer instead of
			// copying it through the shared one every time.
			viaCarry = true
			b := *c.in
			if len(b) >= maxIn {
				l.finalize(c, fmt.Errorf("epoll: %d bytes unconsumed: %w", len(b), poller.ErrInputLimit))
				return
			}
			if cap(b)-len(b) < len(l.buf)/2 {
				nb := bufpool.Get(min(max(2*cap(b), len(b)+len(l.buf)), maxIn))
				*nb = append(*nb, b...)
				bufpool.Put(c.in)
				c.in = nb
				b = *nb
			}
			target = b[len(b):min(cap(b), maxIn)]
		} else {
			if c.in != nil {
				k = len(*c.in)
			}
			target = l.buf[k:]
		}
		n, err := readFD(int(c.fd), target)
		switch {
		case err == unix.EAGAIN:
			return
		case err != nil:
			l.finalize(c, fmt.Errorf("epoll: read: %w", err))
			return
		case n == 0:
			l.peerClosed(c)
			return
		}
		var data []byte
		if viaCarry {
			*c.in = (*c.in)[:len(*c.in)+n]
			data = *c.in
		} else {
			if k > 0 {
				copy(l.buf, *c.in)
				bufpool.Put(c.in)
				c.in = nil
			}
			data = l.buf[:k+n]
		}
		l.deliver(c, data, viaCarry)
		if n < len(target) && !untilAgain {
			l.closing(c)
			return
		}
	}
}

// readFD is read(2) retried on EINTR. The descriptor is non-blocking, so
// RawSyscall is safe and saves the scheduler's syscall bookkeeping on
// every read (see rawWritev).
func readFD(fd int, b []byte) (int, error) {
	for {
		r, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(r), nil
	}
}

// deliver offers data to c's handler. data is either the shared buffer or
// c's carry buffer (viaCarry). Whatever stays unconsumed is kept in c.in,
// which is released as soon as it is empty. A handler replaced during the
// call gets the rest at once.
func (l *loop) deliver(c *conn, data []byte, viaCarry bool) {
	for {
		c.mu.Lock()
		h, ver := c.h, c.hver
		c.flags.Store(c.flags.Load() | fInData)
		c.mu.Unlock()
		n := h.OnData(c, data)
		n = max(0, min(n, len(data)))
		data = data[n:]
		if len(data) == 0 {
			break
		}
		if c.flags.Load()&(fClosed|fPaused|fFinal) != 0 {
			break
		}
		c.mu.Lock()
		same := c.hver == ver
		c.mu.Unlock()
		if same {
			break
		}
	}
	c.mu.Lock()
	f := c.flags.Load() &^ fInData
	c.flags.Store(f)
	failed := false
	if f&fCorked != 0 {
		_, failed = c.uncorkLocked(f)
	}
	c.mu.Unlock()
	if failed {
		l.post(task{kind: taskClose, c: c}) // as Writev does after a write error
	}
	if c.flags.Load()&fFinal != 0 {
		return
	}
	if len(data) == 0 {
		if viaCarry && c.in != nil {
			bufpool.Put(c.in)
			c.in = nil
		}
		return
	}
	if viaCarry {
		b := *c.in
		m := copy(b, data)
		if cap(b) > maxChunk && m <= cap(b)/4 {
			// Shrink after a big message was consumed.
			nb := bufpool.Get(m)
			*nb = append(*nb, b[:m]...)
			c.in = nb
		} else {
			*c.in = b[:m]
		}
	} else {
		nb := bufpool.Get(len(data))
		*nb = append(*nb, data...)
		c.in = nb
	}
	if len(*c.in) > l.e.cfg.MaxInput {
		l.finalize(c, fmt.Errorf("epoll: %d bytes unconsumed: %w", len(*c.in), poller.ErrInputLimit))
	}
}

// peerClosed handles read EOF once every byte before it was offered: a
// HalfCloseHandler is asked whether it still owes output; otherwise the
// connection closes with io.EOF once its queued output is written (the
// peer only half-closed, it may still read).
func (l *loop) peerClosed(c *conn) {
	c.lf |= lEOF
	if c.flags.Load()&(fPaused|fResumeQ) != 0 {
		// Reported after ResumeRead offered what was carried: a read
		// may see the FIN before the resume task runs.
		return
	}
	if c.lf&lAsked != 0 {
		return
	}
	c.lf |= lAsked
	c.mu.Lock()
	h := c.h
	c.mu.Unlock()
	if hc, ok := h.(poller.HalfCloseHandler); ok && c.flags.Load()&(fClosed|fFinal) == 0 {
		keep := hc.OnReadEOF(c)
		if l.closing(c) {
			return
		}
		if keep {
			c.mu.Lock()
			f := c.flags.Load() | fHalf
			c.flags.Store(f)
			c.mu.Unlock()
			if f&fShutWr != 0 {
				// CloseWrite ran before fHalf was set and did not end it.
				l.finalize(c, io.EOF)
			}
			return
		}
	}
	c.mu.Lock()
	pending := c.x != nil && c.x.n > 0 && c.flags.Load()&fClosed == 0
	c.mu.Unlock()
	if !pending {
		l.finalize(c, io.EOF)
	}
}

// writable drains c's output queue after EPOLLOUT.
func (l *loop) writable(c *conn) {
	c.mu.Lock()
	f := c.flags.Load()
	if f&fFinal != 0 {
		c.mu.Unlock()
		return
	}
	x := c.x
	if x != nil && x.n > 0 {
		n, err := x.writeTo(int(c.fd))
		if n > 0 {
			x.notify()
		}
		if err != nil && err != unix.EAGAIN {
			c.mu.Unlock()
			l.finalize(c, fmt.Errorf("epoll: write: %w", err))
			return
		}
	}
	eof := false
	if x == nil || x.n == 0 {
		f &^= fOutOn
		if f&(fWClosed|fShutWr) == fWClosed {
			unix.Shutdown(int(c.fd), unix.SHUT_WR)
			f |= fShutWr
		}
		c.flags.Store(f)
		c.modLocked(f)
		c.dropExtLocked()
		// After the read EOF was reported the connection ends with its
		// queue, unless OnReadEOF kept it open: then it ends at the FIN.
		eof = c.lf&lAsked != 0 && (f&fHalf == 0 || f&fShutWr != 0)
	}
	c.mu.Unlock()
	if eof {
		l.finalize(c, io.EOF)
	}
}

// finalize closes c for good on its loop: unregister, close the fd, drop
// queued output (waking Flush callers), free the slot and call OnClose
// once. err is used unless Close/CloseWithError recorded a reason first.
func (l *loop) finalize(c *conn, err error) {
	c.mu.Lock()
	f := c.flags.Load()
	if f&fFinal != 0 {
		c.mu.Unlock()
		return
	}
	c.flags.Store(f | fFinal | fClosed | fWClosed)
	if x := c.x; x != nil {
		if x.hasReason {
			err = x.reason
		}
		x.failed = x.n > 0 && err != nil && err != io.EOF
		x.drop()
		x.notify()
	}
	if f&fReg != 0 {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
	unix.Close(int(c.fd))
	h := c.h
	c.mu.Unlock()
	if c.in != nil {
		bufpool.Put(c.in)
		c.in = nil
	}
	if int(c.slot) < len(l.conns) && l.conns[c.slot] == c {
		l.conns[c.slot] = nil
		l.free = append(l.free, c.slot)
	}
	h.OnClose(c, err)
	l.e.done()
}

// listen registers a listening socket (level-triggered: a partial accept
// burst is picked up on the next wait).
func (l *loop) listen(lr *listener) {
	lr.idx = -1
	for i, o := range l.lns {
		if o == nil {
			lr.idx = i
			break
		}
	}
	if lr.idx < 0 {
		lr.idx = len(l.lns)
		l.lns = append(l.lns, nil)
	}
	l.lns[lr.idx] = lr
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(-2 - lr.idx)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, lr.fd, &ev); err != nil {
		// Serve's own Accept still serves ln, only slower.
		l.unlisten(lr)
	}
}

// unlistenAll closes every listening socket of the loop (Shutdown).
func (l *loop) unlistenAll() {
	for _, lr := range l.lns {
		if lr != nil {
			l.unlisten(lr)
		}
	}
}

func (l *loop) unlisten(lr *listener) {
	if lr.idx < 0 || lr.idx >= len(l.lns) || l.lns[lr.idx] != lr {
		return
	}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, lr.fd, nil)
	unix.Close(lr.fd)
	l.lns[lr.idx] = nil
	lr.idx = -1
}

// acceptBurst bounds the connections accepted per readiness event.
const acceptBurst = 128

// accept takes pending connections off listener i and hands them to the
// loops round-robin. accept4 is called raw with a reused sockaddr buffer:
// accepting allocates only the conn itself.
func (l *loop) accept(i int) {
	if i < 0 || i >= len(l.lns) || l.lns[i] == nil {
		return
	}
	lr := l.lns[i]
	var rsa unix.RawSockaddrAny
	for range acceptBurst {
		alen := uint32(unix.SizeofSockaddrAny)
		r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lr.fd),
			uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
		case unix.EAGAIN, unix.EINTR, unix.ECONNABORTED:
			return
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Level-triggered readiness would spin: stop watching for a
			// while, like net/http's accept back-off.
			lr.paused = true
			ev := unix.EpollEvent{Fd: int32(-2 - i)}
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, lr.fd, &ev)
			l.e.wheel.AfterFunc(100*time.Millisecond, func() {
				l.post(task{kind: taskRelisten, lr: lr})
			})
			return
		default:
			return
		}
		if rsa.Addr.Family == unix.AF_INET || rsa.Addr.Family == unix.AF_INET6 {
			// As Go's net does for every TCP connection: a small answer
			// must not wait for the peer's delayed ACK of the one before
			// (Nagle). Answers to one read already leave together (see
			// Writev), which is what Nagle would have bought.
			unix.SetsockoptInt(int(r), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		c := &conn{fd: int32(r), org: lr.org, h: lr.h}
		c.setRemote(&rsa)
		var err error
		if lr.local {
			err = l.e.addTo(c, l)
		} else {
			err = l.e.add(c)
		}
		if err != nil {
			unix.Close(int(r))
			return
		}
	}
}
