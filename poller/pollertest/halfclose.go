package pollertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// HC is an H that also implements poller.HalfCloseHandler. A nil ReadEOF
// answers false. The contract checks of H cover OnReadEOF too: once, after
// OnOpen, before OnClose, and never followed by OnData.
type HC struct {
	*H
	ReadEOF func(c poller.Conn) bool
}

// OnReadEOF implements poller.HalfCloseHandler.
func (h HC) OnReadEOF(c poller.Conn) bool {
	st := h.enter(c, "OnReadEOF")
	defer st.busy.Add(-1)
	if h.ReadEOF != nil {
		return h.ReadEOF(c)
	}
	return false
}

// serveHC runs a server with hc and hands each new connection to the
// returned channel, as serverConn does for an H.
func (s *suite) serveHC(t *testing.T, cfg poller.Config, hc HC) (string, <-chan poller.Conn) {
	eng := s.engine(t, cfg)
	conns := make(chan poller.Conn, 128)
	open := hc.H.Open
	hc.H.Open = func(c poller.Conn) {
		if open != nil {
			open(c)
		}
		select {
		case conns <- c:
		default:
		}
	}
	checked(t, hc.H)
	return serve(t, eng, hc), conns
}

// inbox collects what one connection was offered; it lives in the
// connection's Context.
type inbox struct {
	held atomic.Bool
	mu   sync.Mutex
	buf  bytes.Buffer
}

func inboxOf(c poller.Conn) *inbox {
	if b, ok := c.Context().(*inbox); ok {
		return b
	}
	b := &inbox{}
	c.SetContext(b)
	return b
}

func (b *inbox) add(p []byte) {
	b.mu.Lock()
	b.buf.Write(p)
	b.mu.Unlock()
}

func (b *inbox) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runParallel runs n iterations of fn, at most par at a time, and returns
// the errors they reported.
func runParallel(n, par int, fn func(i int) error) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("iteration %d: %w", i, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// reportFailures fails t with a count and the first few errors.
func reportFailures(t *testing.T, n int, errs []error) {
	t.Helper()
	if len(errs) == 0 {
		return
	}
	for i, err := range errs {
		if i == 5 {
			break
		}
		t.Error(err)
	}
	t.Fatalf("%d of %d iterations failed", len(errs), n)
}

// halfCloseRequest is what the clients of testReadEOF send before their
// FIN: an HTTP request whose answer the handler has not queued when the
// FIN arrives.
const halfCloseRequest = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

// clientHalfClose sends req, half-closes and reads until EOF.
func clientHalfClose(addr, req string) ([]byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		return nil, err
	}
	if err := c.CloseWrite(); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return io.ReadAll(c)
}

// testReadEOF: the peer's FIN is reported to a HalfCloseHandler, which may
// keep writing (its answer arrives whole, then FIN) or take the default.
func (s *suite) testReadEOF(t *testing.T) {
	t.Run("keepWriting", func(t *testing.T) {
		// The answer is queued 50 ms after the FIN, from another
		// goroutine: before OnReadEOF existed the connection was closed by
		// then and the client read nothing.
		const n = 100
		resp := pattern(11, 200<<10)
		errc := make(chan error, 2*n)
		closed := make(chan error, n)
		hc := HC{H: &H{
			Data: func(c poller.Conn, b []byte) int {
				inboxOf(c).add(b)
				return len(b)
			},
			Close: func(_ poller.Conn, err error) { closed <- err },
		}}
		hc.ReadEOF = func(c poller.Conn) bool {
			if got := inboxOf(c).String(); got != halfCloseRequest {
				errc <- fmt.Errorf("OnReadEOF after %q, want the whole request first", got)
			}
			go func() {
				time.Sleep(50 * time.Millisecond)
				if _, err := c.Write(resp); err != nil {
					errc <- fmt.Errorf("Write after OnReadEOF: %w", err)
				}
				if err := c.CloseWrite(); err != nil {
					errc <- fmt.Errorf("CloseWrite after OnReadEOF: %w", err)
				}
			}()
			return true
		}
		addr, _ := s.serveHC(t, poller.Config{}, hc)
		errs := runParallel(n, 10, func(int) error {
			got, err := clientHalfClose(addr, halfCloseRequest)
			if err != nil {
				return fmt.Errorf("client got %d bytes, then %w", len(got), err)
			}
			if !bytes.Equal(got, resp) {
				return fmt.Errorf("client got %d bytes then EOF, want the %d-byte answer", len(got), len(resp))
			}
			return nil
		})
		reportFailures(t, n, errs)
		for range n {
			if err := wait(t, closed, 10*time.Second, "OnClose"); err != nil && err != io.EOF {
				t.Errorf("OnClose after CloseWrite = %v, want nil or io.EOF", err)
			}
		}
		close(errc)
		for err := range errc {
			t.Error(err)
		}
	})
	t.Run("default", func(t *testing.T) {
		// false keeps today's behaviour: what was queued before the FIN
		// reached the handler is delivered, then the connection closes and
		// later writes fail visibly.
		asked := make(chan poller.Conn, 1)
		closed := make(chan error, 1)
		hc := HC{H: &H{
			Data: func(c poller.Conn, b []byte) int {
				c.Write(bytes.ToUpper(b))
				return len(b)
			},
			Close: func(_ poller.Conn, err error) { closed <- err },
		}}
		hc.ReadEOF = func(c poller.Conn) bool {
			asked <- c
			return false
		}
		addr, _ := s.serveHC(t, poller.Config{}, hc)
		got, err := clientHalfClose(addr, "ping")
		if err != nil || string(got) != "PING" {
			t.Fatalf("client read %q, %v; want PING then EOF", got, err)
		}
		sc := wait(t, asked, 5*time.Second, "OnReadEOF")
		if err := wait(t, closed, 5*time.Second, "OnClose"); err != nil && err != io.EOF {
			t.Fatalf("OnClose = %v, want nil or io.EOF", err)
		}
		if _, err := sc.Write([]byte("late")); !errors.Is(err, poller.ErrClosed) {
			t.Fatalf("Write after the default close = %v, want ErrClosed", err)
		}
	})
	t.Run("paused", func(t *testing.T) {
		// The FIN arrives while bytes are held by a paused handler:
		// OnReadEOF comes only after ResumeRead offered them.
		const n = 20
		errc := make(chan error, 2*n)
		hc := HC{H: &H{Data: func(c poller.Conn, b []byte) int {
			ib := inboxOf(c)
			if ib.held.CompareAndSwap(false, true) {
				// Hold everything for 100 ms; the FIN arrives meanwhile.
				ib.add([]byte("held|"))
				c.PauseRead()
				time.AfterFunc(100*time.Millisecond, c.ResumeRead)
				return 0
			}
			ib.add(b)
			return len(b)
		}}}
		hc.ReadEOF = func(c poller.Conn) bool {
			if got, want := inboxOf(c).String(), "held|"+halfCloseRequest; got != want {
				errc <- fmt.Errorf("OnReadEOF after %q, want %q first", got, want)
			}
			go func() {
				c.Write([]byte("ok"))
				c.CloseWrite()
			}()
			return true
		}
		addr, _ := s.serveHC(t, poller.Config{}, hc)
		errs := runParallel(n, 10, func(int) error {
			got, err := clientHalfClose(addr, halfCloseRequest)
			if err != nil || string(got) != "ok" {
				return fmt.Errorf("client read %q, %v; want ok then EOF", got, err)
			}
			return nil
		})
		reportFailures(t, n, errs)
		close(errc)
		for err := range errc {
			t.Error(err)
		}
	})
	t.Run("handoff", func(t *testing.T) {
		// The handler installed with SetHandler is the one asked.
		const n = 20
		next := HC{H: &H{Handoff: true, Data: func(c poller.Conn, b []byte) int {
			inboxOf(c).add(b)
			return len(b)
		}}}
		next.ReadEOF = func(c poller.Conn) bool {
			got := inboxOf(c).String()
			go func() {
				c.Write([]byte("next:" + got))
				c.CloseWrite()
			}()
			return true
		}
		checked(t, next.H)
		addr, _ := s.serveHC(t, poller.Config{}, HC{H: &H{Data: func(c poller.Conn, b []byte) int {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return 0
			}
			c.SetHandler(next)
			return i + 1
		}}})
		errs := runParallel(n, 10, func(int) error {
			got, err := clientHalfClose(addr, "UPGRADE\nframe")
			if err != nil || string(got) != "next:frame" {
				return fmt.Errorf("client read %q, %v; want next:frame then EOF", got, err)
			}
			return nil
		})
		reportFailures(t, n, errs)
	})
	t.Run("closeAfter", func(t *testing.T) {
		// The handler owns the close: Close after OnReadEOF ends the
		// connection with exactly one OnClose(nil).
		closed := make(chan error, 4)
		hc := HC{H: &H{Close: func(_ poller.Conn, err error) { closed <- err }}}
		hc.ReadEOF = func(c poller.Conn) bool {
			go func() {
				time.Sleep(20 * time.Millisecond)
				c.Write([]byte("partial"))
				c.Flush(context.Background())
				c.Close()
			}()
			return true
		}
		addr, conns := s.serveHC(t, poller.Config{}, hc)
		got, err := clientHalfClose(addr, "req")
		if err != nil || string(got) != "partial" {
			t.Fatalf("client read %q, %v; want partial then EOF", got, err)
		}
		if err := wait(t, closed, 5*time.Second, "OnClose"); err != nil {
			t.Fatalf("OnClose after Close = %v, want nil", err)
		}
		sc := wait(t, conns, time.Second, "the server connection")
		if _, err := sc.Write([]byte("x")); !errors.Is(err, poller.ErrClosed) {
			t.Fatalf("Write after Close = %v, want ErrClosed", err)
		}
		select {
		case err := <-closed:
			t.Fatalf("second OnClose(%v)", err)
		case <-time.After(200 * time.Millisecond):
		}
	})
	t.Run("resetAfter", func(t *testing.T) {
		// A connection kept open for writing whose peer then resets must
		// still fail visibly: a Flush waiting on a backlog returns the
		// error and OnClose reports it.
		closed := make(chan error, 1)
		queued := make(chan poller.Conn, 1)
		// More than the socket buffers hold: part of it waits in the
		// backend's queue.
		big := pattern(12, bigWrite)
		hc := HC{H: &H{Close: func(_ poller.Conn, err error) { closed <- err }}}
		hc.ReadEOF = func(c poller.Conn) bool {
			go func() {
				if _, err := c.Write(big); err != nil {
					t.Errorf("Write after OnReadEOF: %v", err)
					return
				}
				queued <- c
			}()
			return true
		}
		addr, _ := s.serveHC(t, poller.Config{MaxOutput: 2 * bigWrite}, hc)
		c := dial(t, addr)
		c.Write([]byte("req"))
		c.CloseWrite()
		sc := wait(t, queued, 20*time.Second, "the answer to be queued")
		flushed := make(chan error, 1)
		go func() { flushed <- sc.Flush(ctxT(t, 10*time.Second)) }()
		time.Sleep(50 * time.Millisecond)
		c.SetLinger(0)
		c.Close()
		if err := wait(t, flushed, 15*time.Second, "Flush"); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush after the peer reset = %v, want the connection's error", err)
		}
		if err := wait(t, closed, 5*time.Second, "OnClose"); err == nil || err == io.EOF {
			t.Fatalf("OnClose after the peer reset = %v, want the error", err)
		}
	})
	t.Run("plainHandler", func(t *testing.T) {
		// A handler without OnReadEOF keeps the old behaviour: the
		// connection closes with io.EOF and a late write fails visibly.
		closed := make(chan error, 1)
		addr, conns, _ := s.serverConn(t, poller.Config{}, &H{Close: func(_ poller.Conn, err error) { closed <- err }})
		got, err := clientHalfClose(addr, "req")
		if err != nil || len(got) != 0 {
			t.Fatalf("client read %q, %v; want EOF", got, err)
		}
		if err := wait(t, closed, 5*time.Second, "OnClose"); err != nil && err != io.EOF {
			t.Fatalf("OnClose = %v, want nil or io.EOF", err)
		}
		sc := wait(t, conns, time.Second, "the server connection")
		if _, err := sc.Write([]byte("late")); !errors.Is(err, poller.ErrClosed) {
			t.Fatalf("late Write = %v, want ErrClosed", err)
		}
	})
}

// testDataBeforeClose: a peer that sends and closes at once (a server
// answering a handshake, then closing) must have every byte offered to
// OnData before OnClose, whichever side dialed. Two in three OnOpens take
// a millisecond or two, as a client writing its handshake there may: the
// bytes and the FIN then arrive while OnOpen still runs.
func (s *suite) testDataBeforeClose(t *testing.T) {
	const n = 200
	var opens atomic.Int64
	openWork := func(poller.Conn) {
		time.Sleep(time.Duration(opens.Add(1)%3) * time.Millisecond)
	}
	for _, size := range []int{1, 1000, 100 << 10} {
		msg := pattern(uint64(size), size)
		t.Run(fmt.Sprintf("dial/%d", size), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						c.Write(msg)
						c.Close()
					}()
				}
			}()
			eng := s.engine(t, poller.Config{})
			errs := runParallel(n, 8, func(int) error {
				return dialAndCount(eng, ln.Addr().String(), msg, openWork)
			})
			reportFailures(t, n, errs)
		})
		t.Run(fmt.Sprintf("serve/%d", size), func(t *testing.T) {
			results := make(chan error, n)
			h := checked(t, &H{
				Open: openWork,
				Data: func(c poller.Conn, b []byte) int {
					inboxOf(c).add(b)
					return len(b)
				},
				Close: func(c poller.Conn, err error) {
					got := inboxOf(c).String()
					if got != string(msg) {
						results <- fmt.Errorf("offered %d of %d bytes before OnClose(%v)", len(got), len(msg), err)
						return
					}
					results <- nil
				},
			})
			addr := serve(t, s.engine(t, poller.Config{}), h)
			errs := runParallel(n, 8, func(int) error {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return err
				}
				c.Write(msg)
				c.Close()
				select {
				case err := <-results:
					return err
				case <-time.After(10 * time.Second):
					return errors.New("no OnClose within 10s")
				}
			})
			reportFailures(t, n, errs)
		})
	}
}

// dialAndCount dials a peer that sends want and closes; it reports whether
// every byte reached OnData before OnClose.
func dialAndCount(eng poller.Engine, addr string, want []byte, open func(poller.Conn)) error {
	var got atomic.Int64
	var mismatch atomic.Bool
	res := make(chan error, 1)
	h := &H{
		Open: open,
		Data: func(_ poller.Conn, b []byte) int {
			off := got.Load()
			if int(off)+len(b) > len(want) || !bytes.Equal(b, want[off:int(off)+len(b)]) {
				mismatch.Store(true)
			}
			got.Add(int64(len(b)))
			return len(b)
		},
		Close: func(_ poller.Conn, err error) {
			if n := got.Load(); n != int64(len(want)) || mismatch.Load() {
				res <- fmt.Errorf("offered %d of %d bytes (altered: %v) before OnClose(%v)", n, len(want), mismatch.Load(), err)
				return
			}
			res <- nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := eng.Dial(ctx, "tcp", addr, h); err != nil {
		return err
	}
	var err error
	select {
	case err = <-res:
	case <-time.After(10 * time.Second):
		err = errors.New("no OnClose within 10s")
	}
	h.mu.Lock()
	for _, b := range h.bad {
		err = errors.Join(err, errors.New("handler contract: "+b))
	}
	h.mu.Unlock()
	return err
}
