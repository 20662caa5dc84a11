package netpoll

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// writePoller waits for sockets that were full to become writable again,
// then writes their backlog. netpoll's own write path (Writer.Flush) parks
// its caller until the socket drains, which would cost a goroutine per
// backlogged connection, and its Writer is not safe for concurrent use; so
// the engine keeps a small epoll instance of its own for write readiness: a
// socket is armed (one-shot) only while it has a backlog, and one goroutine
// per engine, started with the first backlog, serves every connection with
// non-blocking writes.
type writePoller struct {
	epfd, evfd int

	mu    sync.Mutex
	conns map[int32]*conn
	done  chan struct{}
}

func newWritePoller() (*writePoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("netpoll: epoll_ctl: %w", err)
	}
	wp := &writePoller{epfd: epfd, evfd: evfd, conns: make(map[int32]*conn), done: make(chan struct{})}
	go wp.loop()
	return wp, nil
}

// arm asks for one writable event for c; c.wmu is held and c.wfd is open.
func (wp *writePoller) arm(c *conn) error {
	op := unix.EPOLL_CTL_MOD
	if !c.armed {
		op = unix.EPOLL_CTL_ADD
		wp.mu.Lock()
		wp.conns[int32(c.wfd)] = c
		wp.mu.Unlock()
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(c.wfd)}
	if err := unix.EpollCtl(wp.epfd, op, c.wfd, &ev); err != nil {
		return fmt.Errorf("netpoll: epoll_ctl: %w", err)
	}
	c.armed = true
	return nil
}

// forget removes c before its descriptor is closed; c.wmu is held.
func (wp *writePoller) forget(c *conn) {
	if !c.armed {
		return
	}
	c.armed = false
	unix.EpollCtl(wp.epfd, unix.EPOLL_CTL_DEL, c.wfd, nil)
	wp.mu.Lock()
	if wp.conns[int32(c.wfd)] == c {
		delete(wp.conns, int32(c.wfd))
	}
	wp.mu.Unlock()
}

// close stops the loop, which releases the descriptors.
func (wp *writePoller) close() {
	var one = [8]byte{1}
	unix.Write(wp.evfd, one[:])
	<-wp.done
}

func (wp *writePoller) loop() {
	defer close(wp.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(wp.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == wp.evfd {
				unix.Close(wp.epfd)
				unix.Close(wp.evfd)
				return
			}
			wp.mu.Lock()
			c := wp.conns[ev.Fd]
			wp.mu.Unlock()
			if c != nil {
				c.onWritable()
			}
		}
	}
	unix.Close(wp.epfd)
	unix.Close(wp.evfd)
}
