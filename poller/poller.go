// Package poller runs connections on event loops: bytes are pushed to a
// Handler as they arrive, writes are queued without blocking the loop, and
// timers live on one timing wheel per engine instead of one time.Timer per
// connection.
//
// Backends live in sub-packages and register themselves by name:
// poller/epoll (golang.org/x/sys/unix, true read pause, no input buffer per
// idle connection; the root package's default on Linux), poller/netpoll
// (cloudwego/netpoll) and poller/std (net.Conn and a goroutine per connection: any OS,
// TLS, net.Pipe in tests). Every backend passes the same test suite
// (pollertest) and callers never see which one runs.
package poller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"
)

// Errors a backend reports, wrapped with context; test with errors.Is.
var (
	// ErrClosed: the connection or engine is closed.
	ErrClosed = errors.New("poller: closed")
	// ErrInputLimit: more unconsumed input piled up than Config.MaxInput
	// (a paused or slow consumer on a backend that cannot stop the kernel
	// reading, or a handler that never consumes). The connection is closed.
	ErrInputLimit = errors.New("poller: input buffer limit exceeded")
	// ErrOutputLimit: more bytes queued for writing than Config.MaxOutput.
	// The write is refused and nothing of it is queued. A write into an
	// empty queue is always admitted, so one message larger than MaxOutput
	// can still be sent.
	ErrOutputLimit = errors.New("poller: output queue limit exceeded")
	// ErrUnknownBackend: New was asked for a backend nobody registered.
	ErrUnknownBackend = errors.New("poller: unknown backend")
	// ErrStalled: FlushStalled gave up because the output queue did not
	// shrink for the whole stall time (the peer stopped reading). The
	// connection is left as it is: the caller decides what to close.
	ErrStalled = errors.New("poller: output stalled")
)

// FlushStalled is Flush that also gives up, with ErrStalled, once c's
// output queue has not shrunk for stall: a peer that keeps reading, however
// slowly, is waited for; one that stopped is not, so it cannot hold the
// caller and the queue forever. Progress is timed, not the whole flush. The
// caller must be c's only writer meanwhile (other writes would hide a
// stall) and must not be on c's loop, since Flush blocks. stall <= 0 is
// plain Flush.
func FlushStalled(ctx context.Context, c Conn, stall time.Duration) error {
	if stall <= 0 {
		return c.Flush(ctx)
	}
	for last := c.Buffered(); ; {
		sctx, cancel := context.WithTimeout(ctx, stall)
		err := c.Flush(sctx)
		expired := err != nil && sctx.Err() != nil && ctx.Err() == nil
		cancel()
		if !expired {
			return err
		}
		n := c.Buffered()
		if n >= last {
			return fmt.Errorf("%w: %d bytes unwritten for %v", ErrStalled, n, stall)
		}
		last = n
	}
}

// Handler receives a connection's events. A backend never calls one
// connection's methods concurrently with each other, and never from more
// than one goroutine at a time; different connections may be served in
// parallel. No method may block: long work belongs on another goroutine.
type Handler interface {
	// OnOpen is called once, before any OnData, when the connection is ready.
	OnOpen(c Conn)
	// OnData is offered the bytes received and not yet consumed. It returns
	// how many it consumed; the rest is offered again, in front of the next
	// bytes, on the next call (or right away when the handler was replaced by
	// SetHandler or reading was resumed). b is only valid during the call.
	OnData(c Conn, b []byte) (consumed int)
	// OnClose is called once when the connection is gone; err says why
	// (nil or io.EOF for an orderly close by either side).
	OnClose(c Conn, err error)
}

// HalfCloseHandler is a Handler that may still owe the peer output when the
// peer half-closes (sends FIN): an HTTP connection with requests being
// answered, a WebSocket session that has not yet echoed what arrived or
// answered a Close. Without it, read EOF closes the connection with io.EOF
// once the output queued so far is written, so anything the handler had not
// queued yet would be lost.
type HalfCloseHandler interface {
	Handler
	// OnReadEOF is called once when the peer's FIN arrives, after every
	// byte received before it was offered to OnData (and, if reading was
	// paused, only after ResumeRead offered what was held), from the same
	// goroutine discipline as OnData. Returning false keeps the default
	// (close with io.EOF once queued output is written). Returning true
	// keeps the connection open for writing: the handler owns the close
	// and must end it with CloseWrite (FIN after the queue drains; the
	// connection then closes with io.EOF) or Close/CloseWithError. No
	// OnData follows OnReadEOF.
	OnReadEOF(c Conn) (keepWriting bool)
}

// Conn is a connection owned by an engine. All methods are safe for
// concurrent use.
type Conn interface {
	// Write writes b or queues it, never blocking: when Write returns, the
	// bytes are in the socket or copied to the connection's output queue, so
	// the caller may reuse b. Writes from concurrent callers never
	// interleave. It fails with ErrClosed after Close/CloseWrite, and with
	// ErrOutputLimit when the queue would exceed Config.MaxOutput.
	Write(b []byte) (int, error)
	// Writev is Write for several buffers, written in order as one unit
	// (one writev where the backend can).
	Writev(bufs [][]byte) (int, error)
	// Flush returns nil once every byte written before the call has reached
	// the socket, or an error if the connection failed first or ctx ended.
	// After a clean close it waits for the queue to drain and returns nil.
	Flush(ctx context.Context) error
	// Buffered is the number of bytes queued and not yet in the socket.
	Buffered() int
	// PauseRead stops OnData calls. Backends that can (epoll, std) stop
	// reading the socket, so TCP pushes back on the peer; netpoll keeps
	// buffering up to Config.MaxInput and then closes with ErrInputLimit.
	PauseRead()
	// ResumeRead undoes PauseRead and offers what was buffered meanwhile.
	ResumeRead()
	// SetHandler replaces the handler from the next event on; bytes the
	// current OnData did not consume go to the new one at once. Used to hand
	// a connection from the HTTP server to a WebSocket session.
	SetHandler(h Handler)
	// CloseWrite sends FIN after the queued bytes are written (half-close).
	// Reading goes on until the peer closes.
	CloseWrite() error
	// Close closes the connection at once; queued bytes may be lost (call
	// Flush first to keep them). OnClose gets a nil error.
	Close() error
	// CloseWithError is Close with the error OnClose will report.
	CloseWithError(err error) error
	// AfterFunc runs f once after d on the engine's timing wheel (resolution
	// Config.Tick). f runs on the wheel's goroutine, not serialized with
	// OnData, and must not block.
	AfterFunc(d time.Duration, f func()) Timer
	// LocalAddr and RemoteAddr are never nil, adopted connections included.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// SetContext and Context hold one value for the user (per-connection state).
	SetContext(v any)
	Context() any
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the timer; it reports whether it stopped f from running.
	Stop() bool
}

// Engine is a group of event loops.
type Engine interface {
	// Serve accepts from ln and runs every connection with h until the
	// engine shuts down or ln fails. It blocks like net/http's Serve. A
	// failing connection never stops it.
	Serve(ln net.Listener, h Handler) error
	// Adopt moves an established connection onto the engine. buffered holds
	// bytes already read from it (e.g. what a bufio.Reader held); they are
	// offered to h first. On success the engine owns c.
	Adopt(c net.Conn, buffered []byte, h Handler) (Conn, error)
	// Dial connects to address ("host:port") and runs the connection with h.
	Dial(ctx context.Context, network, address string, h Handler) (Conn, error)
	// AfterFunc schedules f on the engine's timing wheel.
	AfterFunc(d time.Duration, f func()) Timer
	// Shutdown stops accepting, then waits until every connection is closed
	// or ctx ends; then it closes what is left and releases the loops.
	Shutdown(ctx context.Context) error
	// Close is Shutdown with an already-expired context.
	io.Closer
	// Name is the backend's registered name.
	Name() string
}

// Config tunes an engine. The zero value gives the documented defaults.
type Config struct {
	// Loops is the number of event loops; 0 means runtime.GOMAXPROCS(0).
	Loops int
	// MaxInput caps the unconsumed input kept per connection: bytes a
	// handler was offered and left unconsumed, or that arrived while
	// paused on a backend that cannot stop reading. Bytes on their way to
	// a handler that is running and not paused do not count (a slow
	// return must not cut a peer that sends fast). Default 4 MiB.
	MaxInput int
	// MaxOutput caps the bytes queued for writing per connection: a write
	// that would take a non-empty queue past it fails with ErrOutputLimit.
	// A write into an empty queue is admitted whatever its size (the caller
	// already holds those bytes; refusing them would make a message larger
	// than MaxOutput unsendable). Default 16 MiB.
	MaxOutput int
	// Tick is the timing wheel's resolution. Default 10 ms.
	Tick time.Duration
}

// Defaults for Config fields left zero.
const (
	DefaultMaxInput  = 4 << 20
	DefaultMaxOutput = 16 << 20
	DefaultTick      = 10 * time.Millisecond
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxInput <= 0 {
		c.MaxInput = DefaultMaxInput
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	return c
}

// Factory builds an engine of one backend.
type Factory func(Config) (Engine, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a backend available to New under name. Backends call it
// from init; registering a name twice panics.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("poller: backend registered twice: " + name)
	}
	registry[name] = f
}

// New starts an engine of the named backend.
func New(backend string, cfg Config) (Engine, error) {
	regMu.RLock()
	f := registry[backend]
	regMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("%w %q (have %v)", ErrUnknownBackend, backend, Backends())
	}
	return f(cfg.WithDefaults())
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
