// Package std is the portable poller backend: a net.Conn with one reader
// goroutine per connection and a writer goroutine that exists only while the
// connection has bytes queued. It runs on any OS and over any net.Conn (TLS,
// net.Pipe), at the price of a goroutine stack per idle connection.
//
// Import it for its side effect and select it by name:
//
//	import _ "github.com/rawws/rawws/poller/std"
//	eng, err := poller.New("std", poller.Config{})
//
// PauseRead really stops reading: the reader goroutine parks, so the kernel's
// receive buffer fills and TCP pushes back on the peer.
//
// After the peer's FIN the reader offers what is left (waiting for
// ResumeRead if paused), then asks a poller.HalfCloseHandler OnReadEOF;
// one that keeps writing parks the reader until CloseWrite's FIN is out,
// Close is called or a write fails. A reset of such an idle connection is
// seen at its next write.
package std

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rawws/rawws/internal/wheel"
	"github.com/rawws/rawws/poller"
)

// Name is the name the backend registers under.
const Name = "std"

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
	shutdown bool
	idle     chan struct{} // closed and cleared when conns becomes empty

	wg sync.WaitGroup // reader goroutines
}

// NewEngine returns a std engine; cfg's zero fields take their defaults.
// Config.Loops is ignored: every connection has its own goroutine.
func NewEngine(cfg poller.Config) poller.Engine {
	cfg = cfg.WithDefaults()
	return &engine{
		cfg:   cfg,
		wheel: wheel.New(cfg.Tick),
		conns: make(map[*conn]struct{}),
		lns:   make(map[net.Listener]struct{}),
	}
}

func (e *engine) Name() string { return Name }

func (e *engine) AfterFunc(d time.Duration, f func()) poller.Timer {
	return e.wheel.AfterFunc(d, f)
}

// Serve accepts until ln fails or the engine shuts down; temporary accept
// errors (EMFILE and the like) back off and retry like net/http does.
func (e *engine) Serve(ln net.Listener, h poller.Handler) error {
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return fmt.Errorf("std: serve: %w", poller.ErrClosed)
	}
	e.lns[ln] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.lns, ln)
		e.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			e.mu.Lock()
			down := e.shutdown
			e.mu.Unlock()
			if down {
				return fmt.Errorf("std: serve: %w", poller.ErrClosed)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("std: accept: %w", err)
		}
		backoff = 0
		if _, err := e.Adopt(nc, nil, h); err != nil {
			nc.Close()
		}
	}
}

// isTemporary reports accept errors worth retrying (out of fds, aborted
// handshakes) without using the deprecated net.Error.Temporary.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (e *engine) Adopt(nc net.Conn, buffered []byte, h poller.Handler) (poller.Conn, error) {
	if h == nil {
		return nil, errors.New("std: adopt: nil handler")
	}
	c := newConn(e, nc, h, buffered)
	e.mu.Lock()
	if e.shutdown {
		e.mu.Unlock()
		return nil, fmt.Errorf("std: adopt: %w", poller.ErrClosed)
	}
	e.conns[c] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	go c.readLoop()
	return c, nil
}

func (e *engine) Dial(ctx context.Context, network, address string, h poller.Handler) (poller.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("std: dial: %w", err)
	}
	c, err := e.Adopt(nc, nil, h)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// remove forgets a connection whose reader goroutine is ending.
func (e *engine) remove(c *conn) {
	e.mu.Lock()
	delete(e.conns, c)
	if len(e.conns) == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
	e.mu.Unlock()
}

// Shutdown closes the listeners, waits for the connections to close, then
// closes the rest and waits for their goroutines (which end promptly once
// their socket is closed, unless a handler blocks).
func (e *engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.shutdown = true
	for ln := range e.lns {
		ln.Close()
	}
	var idle chan struct{}
	if len(e.conns) > 0 {
		if e.idle == nil {
			e.idle = make(chan struct{})
		}
		idle = e.idle
	}
	e.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = fmt.Errorf("std: shutdown: %w", ctx.Err())
		}
	}
	e.mu.Lock()
	left := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		left = append(left, c)
	}
	e.mu.Unlock()
	for _, c := range left {
		c.CloseWithError(fmt.Errorf("std: engine shut down: %w", poller.ErrClosed))
	}
	e.wg.Wait()
	e.wheel.Close()
	return err
}

func (e *engine) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Shutdown(ctx)
	return nil
}
