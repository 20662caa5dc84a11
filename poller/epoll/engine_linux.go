//go:build linux

package epoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/internal/bufpool"
	"github.com/rawws/rawws/internal/wheel"
	"github.com/rawws/rawws/poller"
)

// Name is the name the backend registers under.
const Name = "epoll"

// ErrNotSocket: Adopt was given a net.Conn that exposes no file descriptor
// (it does not implement syscall.Conn: TLS, net.Pipe, wrappers). The
// connection is left untouched and still belongs to the caller.
var ErrNotSocket = errors.New("epoll: connection has no file descriptor")

func init() {
	poller.Register(Name, func(cfg poller.Config) (poller.Engine, error) {
		return New(cfg, Options{LockOSThread: true})
	})
}

// Options are the knobs specific to this backend. The zero value is valid;
// the engine registered as "epoll" uses LockOSThread: true.
type Options struct {
	// LockOSThread pins each loop goroutine to its own OS thread
	// (runtime.LockOSThread). A loop then sleeps in epoll_wait without
	// making the scheduler hand its P around goroutines on every wake-up.
	LockOSThread bool
	// ReadBufferSize is the size of each loop's shared read buffer; 0 means
	// 64 KiB. It bounds how many bytes one OnData call sees at once.
	ReadBufferSize int
}

// DefaultReadBufferSize is the shared read buffer per loop when
// Options.ReadBufferSize is 0.
const DefaultReadBufferSize = 64 << 10

// Engine is a group of epoll loops. It implements poller.Engine and adds
// AdoptFD. Create it with New or poller.New("epoll", cfg).
type Engine struct {
	cfg   poller.Config
	opt   Options
	wheel *wheel.Wheel
	loops []*loop
	next  atomic.Uint32 // round-robin cursor over loops

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	live   int           // connections handed to a loop and not yet closed
	idle   chan struct{} // closed when live drops to 0 during Shutdown
	down   bool          // Shutdown started: no new connections
	downCh chan struct{} // closed when down is set
	ended  chan struct{} // closed when Shutdown has released the loops
	wg     sync.WaitGroup
}

// New starts an engine: cfg.Loops loops (0 means GOMAXPROCS), each with an
// epoll instance, an eventfd for wake-ups and a shared read buffer.
func New(cfg poller.Config, opt Options) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if opt.ReadBufferSize <= 0 {
		opt.ReadBufferSize = DefaultReadBufferSize
	}
	e := &Engine{
		cfg:    cfg,
		opt:    opt,
		wheel:  wheel.New(cfg.Tick),
		lns:    make(map[net.Listener]struct{}),
		ended:  make(chan struct{}),
		downCh: make(chan struct{}),
	}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(e)
		if err != nil {
			for _, l := range e.loops {
				l.closeFDs()
			}
			e.wheel.Close()
			return nil, fmt.Errorf("epoll: new loop: %w", err)
		}
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		e.wg.Add(1)
		go l.run()
	}
	return e, nil
}

// Name returns "epoll".
func (e *Engine) Name() string { return Name }

// AfterFunc schedules f on the engine's timing wheel (resolution
// Config.Tick); f runs on the wheel's goroutine and must not block.
func (e *Engine) AfterFunc(d time.Duration, f func()) poller.Timer {
	return e.wheel.AfterFunc(d, f)
}

// Serve accepts from ln until the engine shuts down (it then returns an
// error wrapping poller.ErrClosed) or ln fails. ln must expose its socket
// (net.TCPListener and net.UnixListener do). A duplicate of the listening
// descriptor is watched by one of the loops, which calls accept4 itself, so
// no net.Conn is built per connection; accepted connections go round-robin
// to the loops. Running out of descriptors pauses accepting for 100 ms, like
// net/http's back-off. Closing ln stops Serve within about 100 ms (the
// duplicate keeps the socket listening until then).
func (e *Engine) Serve(ln net.Listener, h poller.Handler) error {
	if h == nil {
		return errors.New("epoll: serve: nil handler")
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("epoll: serve %T: %w", ln, ErrNotSocket)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("epoll: serve: %w", err)
	}
	dfd, err := dupListener(ln)
	if err != nil {
		return fmt.Errorf("epoll: serve: %w", err)
	}
	org := &origin{laddr: ln.Addr(), fixedLocal: true}
	if ta, ok := org.laddr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		org.fixedLocal = false
	}
	lr := &listener{fd: dfd, h: h, org: org}
	lr.loop = e.loops[(e.next.Add(1)-1)%uint32(len(e.loops))]
	e.mu.Lock()
	if e.down {
		e.mu.Unlock()
		unix.Close(dfd)
		return fmt.Errorf("epoll: serve: %w", poller.ErrClosed)
	}
	e.lns[ln] = struct{}{}
	lr.loop.post(task{kind: taskListen, lr: lr})
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.lns, ln)
		e.mu.Unlock()
		// Dropped if the loop already stopped: it closes its listeners then.
		lr.loop.post(task{kind: taskUnlisten, lr: lr})
	}()

	// Every connection is accepted by the loop. This goroutine only
	// notices the end: Shutdown, or ln closed by its owner (a listener's
	// RawConn cannot wait for readiness, so closure is polled).
	tk := time.NewTicker(listenerPoll)
	defer tk.Stop()
	for {
		select {
		case <-e.downCh:
			return fmt.Errorf("epoll: serve: %w", poller.ErrClosed)
		case <-tk.C:
			if err := rc.Control(func(uintptr) {}); err != nil {
				return fmt.Errorf("epoll: serve: listener: %w", err)
			}
		}
	}
}

// listenerPoll is how often Serve checks that its listener is still open.
const listenerPoll = 100 * time.Millisecond

// ServeReusePort listens on the TCP address once per loop, every socket
// with SO_REUSEPORT, so the kernel spreads incoming connections over the
// loops and each loop accepts its own: no hand-off between loops and no
// shared accept queue. It returns the bound address (useful with port 0)
// and serves until Shutdown, which closes the sockets.
func (e *Engine) ServeReusePort(address string, h poller.Handler) (net.Addr, error) {
	if h == nil {
		return nil, errors.New("epoll: serve: nil handler")
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	var lrs []*listener
	fail := func(err error) (net.Addr, error) {
		for _, lr := range lrs {
			unix.Close(lr.fd)
		}
		return nil, fmt.Errorf("epoll: serve reuseport %s: %w", address, err)
	}
	var bound net.Addr
	for _, l := range e.loops {
		ln, err := lc.Listen(context.Background(), "tcp", address)
		if err != nil {
			return fail(err)
		}
		if bound == nil {
			// Later sockets must share the port the first one got.
			bound = ln.Addr()
			address = bound.String()
		}
		dfd, err := dupListener(ln)
		ln.Close() // the duplicate keeps the socket listening
		if err != nil {
			return fail(err)
		}
		org := &origin{laddr: bound, fixedLocal: true}
		if ta, ok := bound.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			org.fixedLocal = false
		}
		lrs = append(lrs, &listener{fd: dfd, h: h, org: org, loop: l, local: true})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return fail(poller.ErrClosed)
	}
	for _, lr := range lrs {
		lr.loop.post(task{kind: taskListen, lr: lr})
	}
	return bound, nil
}

// dupListener duplicates ln's descriptor (close-on-exec; non-blocking like
// every socket Go creates).
func dupListener(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, ErrNotSocket
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	dfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		dfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	return dfd, nil
}

// listener is a listening socket watched by a loop.
type listener struct {
	fd     int
	h      poller.Handler
	org    *origin
	loop   *loop
	idx    int  // in loop.lns; -1 once closed
	paused bool // out of descriptors: not watched for a while
	local  bool // SO_REUSEPORT socket: connections stay on this loop
}

// Adopt moves c onto the engine: it duplicates c's descriptor, closes c
// (which detaches it from Go's poller) and runs the duplicate, non-blocking,
// on a loop. buffered (copied) is offered to h before anything read from
// the socket. c must implement syscall.Conn (net.TCPConn, net.UnixConn);
// otherwise Adopt fails with ErrNotSocket and c still belongs to the
// caller. On any other failure c is closed.
func (e *Engine) Adopt(c net.Conn, buffered []byte, h poller.Handler) (poller.Conn, error) {
	if h == nil {
		return nil, errors.New("epoll: adopt: nil handler")
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("epoll: adopt %T: %w", c, ErrNotSocket)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("epoll: adopt: %w", err)
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		c.Close()
		return nil, fmt.Errorf("epoll: adopt: %w", err)
	}
	org := &origin{laddr: c.LocalAddr(), raddr: c.RemoteAddr(), fixedLocal: true}
	c.Close()
	if derr != nil {
		return nil, fmt.Errorf("epoll: adopt: dup: %w", derr)
	}
	cc, err := e.adoptFD(nfd, org, buffered, h)
	if err != nil {
		unix.Close(nfd)
		return nil, err
	}
	return cc, nil
}

// AdoptFD runs the connected socket fd on the engine, offering buffered
// (copied) to h first. fd is made non-blocking. On success the engine owns
// fd and closes it when the connection ends; on error fd is untouched and
// still the caller's. The caller must not keep another descriptor of the
// same socket registered elsewhere.
func (e *Engine) AdoptFD(fd int, buffered []byte, h poller.Handler) (poller.Conn, error) {
	if h == nil {
		return nil, errors.New("epoll: adopt: nil handler")
	}
	org := &origin{fixedLocal: true}
	if sa, err := unix.Getsockname(fd); err == nil {
		org.laddr = sockaddrToAddr(sa)
	} else {
		return nil, fmt.Errorf("epoll: adopt fd %d: %w", fd, err)
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		org.raddr = sockaddrToAddr(sa)
	} else {
		return nil, fmt.Errorf("epoll: adopt fd %d: %w", fd, err)
	}
	return e.adoptFD(fd, org, buffered, h)
}

func (e *Engine) adoptFD(fd int, org *origin, buffered []byte, h poller.Handler) (*conn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("epoll: adopt: %w", err)
	}
	if org.laddr == nil {
		org.laddr = unknownAddr{}
	}
	if org.raddr == nil {
		org.raddr = unknownAddr{}
	}
	c := &conn{fd: int32(fd), org: org, h: h}
	if len(buffered) > 0 {
		c.in = bufpool.Get(len(buffered))
		*c.in = append(*c.in, buffered...)
	}
	if err := e.add(c); err != nil {
		if c.in != nil {
			bufpool.Put(c.in)
		}
		return nil, fmt.Errorf("epoll: adopt: %w", err)
	}
	return c, nil
}

// Dial connects with net.Dialer and adopts the connection, so ctx bounds
// the connect (and name resolution) only.
func (e *Engine) Dial(ctx context.Context, network, address string, h poller.Handler) (poller.Conn, error) {
	if h == nil {
		return nil, errors.New("epoll: dial: nil handler")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("epoll: dial: %w", err)
	}
	c, err := e.Adopt(nc, nil, h)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// add counts c and hands it to a loop, which registers it and calls OnOpen.
// Posting under e.mu orders the open before any close-all from Shutdown.
func (e *Engine) add(c *conn) error {
	return e.addTo(c, e.loops[(e.next.Add(1)-1)%uint32(len(e.loops))])
}

func (e *Engine) addTo(c *conn, l *loop) error {
	c.loop = l
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return poller.ErrClosed
	}
	e.live++
	l.post(task{kind: taskOpen, c: c})
	return nil
}

// done is called by a loop once a connection is closed and forgotten.
func (e *Engine) done() {
	e.mu.Lock()
	e.live--
	if e.live == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
	e.mu.Unlock()
}

// waitIdle waits until no connection is live or ctx ends.
func (e *Engine) waitIdle(ctx context.Context) error {
	e.mu.Lock()
	if e.live == 0 {
		e.mu.Unlock()
		return nil
	}
	if e.idle == nil {
		e.idle = make(chan struct{})
	}
	ch := e.idle
	e.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown closes the listeners Serve runs on, waits for the connections
// to close or ctx to end, then closes what is left (OnClose reports an
// error wrapping poller.ErrClosed), stops the loops and the timing wheel.
// It returns ctx's error if it had to force connections closed. Calling it
// again waits for the first call to finish and returns nil.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.down {
		e.mu.Unlock()
		<-e.ended
		return nil
	}
	e.down = true
	close(e.downCh)
	for ln := range e.lns {
		ln.Close()
	}
	for _, l := range e.loops {
		// Stop the kernel completing handshakes on the duplicates now,
		// not when the loops end.
		l.post(task{kind: taskFunc, fn: l.unlistenAll})
	}
	e.mu.Unlock()

	var err error
	if werr := e.waitIdle(ctx); werr != nil {
		err = fmt.Errorf("epoll: shutdown: %w", werr)
		forced := fmt.Errorf("epoll: engine shut down: %w", poller.ErrClosed)
		for _, l := range e.loops {
			l.post(task{kind: taskCloseAll, err: forced})
		}
		// Loops finalize every connection without waiting on the peer;
		// only a blocking handler could delay this.
		e.waitIdle(context.Background())
	}
	for _, l := range e.loops {
		l.post(task{kind: taskStop})
	}
	e.wg.Wait()
	e.wheel.Close()
	close(e.ended)
	return err
}

// Close is Shutdown with an expired context: every connection is closed
// at once.
func (e *Engine) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Shutdown(ctx)
	return nil
}

// origin holds addresses shared by the connections of one listener, or the
// addresses of one adopted connection.
type origin struct {
	laddr      net.Addr
	raddr      net.Addr // nil: the conn stores its remote address compactly
	fixedLocal bool     // laddr is every connection's local address
}

// unknownAddr stands in for an address the socket could not report, so
// LocalAddr and RemoteAddr are never nil.
type unknownAddr struct{}

func (unknownAddr) Network() string { return "unknown" }
func (unknownAddr) String() string  { return "unknown" }

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		ta := &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ta.Zone = ifi.Name
			}
		}
		return ta
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return unknownAddr{}
}
