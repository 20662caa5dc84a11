package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/internal/wheel"
	"github.com/rawws/rawws/poller"
)

// Name is the name the backend registers under.
const Name = "netpoll"

func init() {
	poller.Register(Name, func(cfg poller.Config) (poller.Engine, error) {
		return NewEngine(cfg), nil
	})
}

// engine implements poller.Engine.
type engine struct {
	cfg   poller.Config
	wheel *wheel.Wheel

	mu       sync.Mutex
	conns    map[*conn]struct{}
	lns      map[net.Listener]struct{}
	files    map[*os.File]struct{} // duplicated listener descriptors
	shutdown bool
	idle     chan struct{} // closed and cleared when conns becomes empty

	accepting sync.WaitGroup // Serve loops

	wpOnce   sync.Once
	wpoll    *writePoller // started with the first backlog
	wpErr    error
	wpClosed bool
}

// writePoller returns the engine's write poller, starting it once.
func (e *engine) writePoller() (*writePoller, error) {
	e.wpOnce.Do(func() { e.wpoll, e.wpErr = newWritePoller() })
	if e.wpoll == nil && e.wpErr == nil {
		return nil, fmt.Errorf("netpoll: write poller: %w", poller.ErrClosed)
	}
	return e.wpoll, e.wpErr
}

// NewEngine returns a netpoll engine; cfg's zero fields take their defaults.
func NewEngine(cfg poller.Config) poller.Engine {
	cfg = cfg.WithDefaults()
	return &engine{
		cfg:   cfg,
		wheel: wheel.New(cfg.Tick),
		conns: make(map[*conn]struct{}),
		lns:   make(map[net.Listener]struct{}),
		files: make(map[*os.File]struct{}),
	}
}

func (e *engine) Name() string { return Name }

func (e *engine) AfterFunc(d time.Duration, f func()) poller.Timer {
	return e.wheel.AfterFunc(d, f)
}

// Serve accepts with accept4 on a duplicate of the listener's descriptor
// that Go's poller watches (a net.Listener's own raw connection cannot wait
// for readability), and hands each socket straight to netpoll. Listeners
// without a descriptor are served with Accept and Adopt.
func (e *engine) Serve(ln net.Listener, h poller.Handler) error {
	if h == nil {
		return errors.New("netpoll: serve: nil handler")
	}
	lf, err := dupListener(ln)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		if lf != nil {
			lf.Close()
		}
		return fmt.Errorf("netpoll: serve: %w", poller.ErrClosed)
	}
	e.lns[ln] = struct{}{}
	if lf != nil {
		e.files[lf] = struct{}{}
	}
	e.accepting.Add(1)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.lns, ln)
		if lf != nil {
			delete(e.files, lf)
			lf.Close()
		}
		e.mu.Unlock()
		e.accepting.Done()
	}()
	if lf == nil {
		return e.serveAccept(ln, h)
	}
	rc, err := lf.SyscallConn()
	if err != nil {
		return fmt.Errorf("netpoll: serve: %w", err)
	}
	network := ln.Addr().Network()
	var backoff time.Duration
	for {
		var nfd int
		var sa unix.Sockaddr
		var aerr error
		// The duplicate keeps the socket listening after the caller closes
		// ln, so wake up now and then to notice that.
		lf.SetReadDeadline(time.Now().Add(listenerCheck))
		err := rc.Read(func(fd uintptr) bool {
			for {
				nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
				if aerr != unix.EINTR {
					return aerr != unix.EAGAIN
				}
			}
		})
		if err == nil {
			err = aerr
		}
		if err != nil {
			if e.isShutdown() {
				return fmt.Errorf("netpoll: serve: %w", poller.ErrClosed)
			}
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				if err := listenerAlive(ln); err != nil {
					return fmt.Errorf("netpoll: accept: %w", err)
				}
				continue
			case errors.Is(err, unix.ECONNABORTED):
				continue
			case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM):
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("netpoll: accept: %w", err)
		}
		backoff = 0
		raddr := sockaddrToAddr(network, sa)
		var laddr net.Addr
		if lsa, err := unix.Getsockname(nfd); err == nil {
			laddr = sockaddrToAddr(network, lsa)
		} else {
			laddr = ln.Addr()
		}
		if network == "tcp" {
			unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		c, err := e.start(nfd, laddr, raddr, nil, h)
		if err != nil {
			continue // start closed the descriptor
		}
		// OnOpen is quick by contract; running it here saves a goroutine.
		c.open()
	}
}

func (e *engine) isShutdown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shutdown
}

// listenerCheck is how often Serve checks that the caller did not close
// its listener.
const listenerCheck = 250 * time.Millisecond

// listenerAlive reports an error once ln is closed.
func listenerAlive(ln net.Listener) error {
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(uintptr) {})
}

// dupListener returns a non-blocking duplicate of ln's descriptor as an
// *os.File, which Go's poller can wait on; nil if ln has no descriptor.
func dupListener(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("netpoll: serve: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("netpoll: serve: dup listener: %w", derr)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("netpoll: serve: %w", err)
	}
	return os.NewFile(uintptr(nfd), "listener"), nil
}

// serveAccept is Serve for a listener without a descriptor.
func (e *engine) serveAccept(ln net.Listener, h poller.Handler) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if e.isShutdown() {
				return fmt.Errorf("netpoll: serve: %w", poller.ErrClosed)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("netpoll: accept: %w", err)
		}
		backoff = 0
		if _, err := e.Adopt(nc, nil, h); err != nil {
			nc.Close()
		}
	}
}

// sockaddrToAddr converts an accept or getsockname result.
func sockaddrToAddr(network string, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a = a.WithZone(ifi.Name)
			} else {
				a = a.WithZone(strconv.Itoa(int(sa.ZoneId)))
			}
		}
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(sa.Port)))
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: network}
	}
	return unknownAddr(network)
}

// unknownAddr stands in for an address the kernel did not report.
type unknownAddr string

func (a unknownAddr) Network() string { return string(a) }
func (a unknownAddr) String() string  { return "unknown" }

// Adopt takes over a *net.TCPConn or *net.UnixConn: its descriptor is
// duplicated for netpoll and nc is closed.
func (e *engine) Adopt(nc net.Conn, buffered []byte, h poller.Handler) (poller.Conn, error) {
	if h == nil {
		return nil, errors.New("netpoll: adopt: nil handler")
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netpoll: adopt %T: %w (use the std backend)", nc, errors.ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: adopt: %w", err)
	}
	nfd := -1
	var derr error
	err = rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("netpoll: adopt: dup: %w", err)
	}
	laddr, raddr := nc.LocalAddr(), nc.RemoteAddr()
	if laddr == nil {
		laddr = unknownAddr("unknown")
	}
	if raddr == nil {
		raddr = unknownAddr("unknown")
	}
	nc.Close()
	c, err := e.start(nfd, laddr, raddr, buffered, h)
	if err != nil {
		return nil, err
	}
	go c.open()
	return c, nil
}

func (e *engine) Dial(ctx context.Context, network, address string, h poller.Handler) (poller.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("netpoll: dial: %w", err)
	}
	c, err := e.Adopt(nc, nil, h)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// track adds c unless the engine is shutting down.
func (e *engine) track(c *conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutdown {
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

// remove forgets a connection whose OnClose has run.
func (e *engine) remove(c *conn) {
	e.mu.Lock()
	delete(e.conns, c)
	if len(e.conns) == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
	e.mu.Unlock()
}

// idleChan returns a channel closed once no connection is left (nil if
// none is left now).
func (e *engine) idleChan() chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.conns) == 0 {
		return nil
	}
	if e.idle == nil {
		e.idle = make(chan struct{})
	}
	return e.idle
}

// Shutdown closes the listeners, waits for the connections to close, then
// closes the rest and waits for their OnClose calls.
func (e *engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.shutdown = true
	for ln := range e.lns {
		ln.Close()
	}
	for f := range e.files {
		f.Close()
	}
	e.mu.Unlock()
	e.accepting.Wait()
	var err error
	if idle := e.idleChan(); idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = fmt.Errorf("netpoll: shutdown: %w", ctx.Err())
		}
	}
	e.mu.Lock()
	left := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		left = append(left, c)
	}
	e.mu.Unlock()
	for _, c := range left {
		c.CloseWithError(fmt.Errorf("netpoll: engine shut down: %w", poller.ErrClosed))
	}
	if idle := e.idleChan(); idle != nil {
		<-idle
	}
	e.wheel.Close()
	e.wpOnce.Do(func() {}) // no poller may start from now on
	e.mu.Lock()
	wp := e.wpoll
	if e.wpClosed {
		wp = nil
	}
	e.wpClosed = true
	e.mu.Unlock()
	if wp != nil {
		wp.close()
	}
	return err
}

func (e *engine) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Shutdown(ctx)
	return nil
}
