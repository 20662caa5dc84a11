package soak

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// healthy dials a second connection and checks it echoes: a fault on one
// connection must not disturb the others.
func healthy(t *testing.T, addr string) {
	t.Helper()
	c, err := DialRaw(addr, "/", 5*time.Second)
	if err != nil {
		t.Fatalf("healthy connection: %v", err)
	}
	defer c.Close()
	for _, n := range []int{0, 1, 125, 126, 70000} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		if err := c.Echo(p, 5*time.Second); err != nil {
			t.Fatalf("healthy connection, echo of %d bytes: %v", n, err)
		}
	}
}

// wantEnded waits for the server session's end and returns its cause.
func wantEnded(t *testing.T, srv *EchoServer) error {
	t.Helper()
	err, ok := srv.WaitEnded(10 * time.Second)
	if !ok {
		t.Fatal("the server session did not end within 10s")
	}
	return err
}

// A peer that resets the connection in the middle of a frame ends the
// server session with an error; nothing leaks and other connections go on.
func TestFaultResetMidFrame(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend})
		c, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wire := c.AppendFrame(nil, true, frame.OpBinary, make([]byte, 1000))
		if _, err := c.Conn.Write(wire[:200]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the server read the partial frame
		c.Conn.(*net.TCPConn).SetLinger(0)
		c.Close()
		if err := wantEnded(t, srv); err == nil || rawws.IsNormalClosure(err) {
			t.Fatalf("session ended with %v after a reset mid-frame, want an error", err)
		}
		healthy(t, srv.Addr)
	})
}

// A peer that closes TCP (FIN) in the middle of a frame has not closed the
// WebSocket: the session must not report an orderly end.
func TestFaultEOFMidFrame(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend})
		c, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wire := c.AppendFrame(nil, true, frame.OpBinary, make([]byte, 1000))
		if _, err := c.Conn.Write(wire[:200]); err != nil {
			t.Fatal(err)
		}
		c.Conn.(*net.TCPConn).CloseWrite()
		err = wantEnded(t, srv)
		c.Close()
		if err == nil || rawws.IsNormalClosure(err) {
			t.Fatalf("session ended with %v after EOF mid-frame, want an error (RFC 6455 §7.1.5: 1006 abnormal closure)", err)
		}
		healthy(t, srv.Addr)
	})
}

// A client that sends Close and half-closes at once still gets the
// server's Close and then EOF, and the server sees a normal closure.
func TestFaultHalfCloseAfterClose(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend})
		c, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Echo([]byte("before"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteClose(frame.CloseNormal, "done"); err != nil {
			t.Fatal(err)
		}
		c.Conn.(*net.TCPConn).CloseWrite()
		f, err := c.ReadUntilClose(5 * time.Second)
		if err != nil {
			t.Fatalf("no Close back after Close + FIN: %v", err)
		}
		if f.CloseCode() != frame.CloseNormal {
			t.Fatalf("Close back has code %d, want 1000", f.CloseCode())
		}
		if err := c.ExpectEOF(5 * time.Second); err != nil {
			t.Fatalf("no EOF after the close handshake: %v", err)
		}
		if err := wantEnded(t, srv); !rawws.IsNormalClosure(err) {
			t.Fatalf("server session ended with %v, want a normal closure", err)
		}
		healthy(t, srv.Addr)
	})
}

// A client that vanishes without closing (no FIN, no reads, no writes) is
// reclaimed by the Pinger: the session ends with ErrPingTimeout, while a
// live client answering pings is kept.
func TestFaultVanishedClientReclaimedByPing(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend, PingPeriod: 50 * time.Millisecond, PingTimeout: 250 * time.Millisecond,
			Session: rawws.Options{CloseTimeout: 200 * time.Millisecond}})
		c, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		live, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var wmu sync.Mutex
		echoes := make(chan []byte, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := live.ReadFrame(nil)
				if err != nil {
					return
				}
				switch f.Opcode {
				case frame.OpPing:
					wmu.Lock()
					live.WriteFrame(true, frame.OpPong, f.Payload)
					wmu.Unlock()
				case frame.OpBinary:
					echoes <- f.Payload
				}
			}
		}()
		defer wg.Wait()
		defer live.Close()
		start := time.Now()
		err = wantEnded(t, srv)
		if !errors.Is(err, rawws.ErrPingTimeout) {
			t.Fatalf("vanished client's session ended with %v, want ErrPingTimeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("reclaimed after %v, want about period+timeout+close timeout", d)
		}
		wmu.Lock()
		live.WriteFrame(true, frame.OpBinary, []byte("still here"))
		wmu.Unlock()
		select {
		case p := <-echoes:
			if string(p) != "still here" {
				t.Fatalf("live client got %q", p)
			}
		case err := <-srv.Ended:
			t.Fatalf("the live client's session ended too: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("live client got no echo")
		}
	})
}

// acceptWS accepts one connection on ln and answers its handshake.
func acceptWS(ln net.Listener) (net.Conn, error) {
	c, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := textproto.NewReader(bufio.NewReader(c))
	if _, err := r.ReadLine(); err != nil {
		c.Close()
		return nil, err
	}
	h, err := r.ReadMIMEHeader()
	if err != nil {
		c.Close()
		return nil, err
	}
	sum := sha1.Sum([]byte(h.Get("Sec-WebSocket-Key") + wsGUID))
	_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
		base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
	c.SetDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Writing to a connection the peer already closed fails or is written,
// and never hangs: every Send and Flush returns well before its deadline,
// and sending ends with ErrClosed.
func TestFaultWriteAfterPeerClosed(t *testing.T) {
	for _, how := range []string{"reset", "fin"} {
		t.Run(how, func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				CheckLeaks(t)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s, pc := dialRawPeer(t, ctx, backend, rawws.Options{})
				go func() {
					for range s.Incoming() {
					}
				}()
				if how == "reset" {
					pc.(*net.TCPConn).SetLinger(0)
				}
				pc.Close()
				payload := make([]byte, 64<<10)
				var sendErr error
				for i := 0; i < 400 && sendErr == nil; i++ {
					fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
					sendErr = s.SendBinary(fctx, payload)
					if sendErr == nil {
						if err := s.Flush(fctx); err != nil && fctx.Err() != nil {
							fcancel()
							t.Fatalf("Flush %d hung until its deadline", i)
						}
					} else if fctx.Err() != nil {
						fcancel()
						t.Fatalf("Send %d hung until its deadline", i)
					}
					fcancel()
					time.Sleep(time.Millisecond)
				}
				if !errors.Is(sendErr, rawws.ErrClosed) {
					t.Fatalf("400 sends of 64 KiB to a closed peer: last error %v, want ErrClosed", sendErr)
				}
				select {
				case <-s.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("session not done after the peer closed")
				}
			})
		})
	}
}

// Shutting the engine down while every connection echoes at full speed:
// each client Send and Flush returns (nil or an error) well before its
// deadline, every client session ends, and Shutdown returns in time.
func TestFaultShutdownUnderLoad(t *testing.T) {
	for _, front := range []Front{FrontNetHTTP, FrontNative} {
		t.Run(front.String(), func(t *testing.T) { shutdownUnderLoad(t, front) })
	}
}

func shutdownUnderLoad(t *testing.T, front Front) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend, Front: front, Backpressure: true})
		ceng, err := poller.New(backend, poller.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer ceng.Close()
		const clients = 6
		var wg sync.WaitGroup
		errs := make(chan error, clients*2)
		started := make(chan struct{}, clients)
		for i := 0; i < clients; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, _, err := rawws.Dial(ctx, "ws://"+srv.Addr+"/", rawws.DialOptions{Engine: ceng})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				for range s.Incoming() {
				}
			}()
			go func() {
				defer wg.Done()
				defer s.Close(errors.New("client done"))
				payload := make([]byte, 16<<10)
				for i := 0; ; i++ {
					if i == 20 {
						started <- struct{}{}
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := s.SendBinary(ctx, payload[:i%len(payload)])
					if err == nil && i%4 == 0 {
						err = s.Flush(ctx)
					}
					hung := ctx.Err() != nil
					cancel()
					if hung {
						errs <- errors.New("a Send or Flush hung until its deadline during shutdown")
						return
					}
					if err != nil {
						if i < 20 {
							started <- struct{}{}
						}
						return
					}
				}
			}()
		}
		for i := 0; i < clients; i++ {
			<-started
		}
		if srv.Native != nil {
			// Upgraded connections are no longer the HTTP server's: its
			// Shutdown leaves them to the engine.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			start := time.Now()
			if err := srv.Native.Shutdown(ctx); err != nil {
				t.Errorf("HTTP server Shutdown: %v", err)
			}
			cancel()
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("HTTP server Shutdown took %v with a 2s context", d)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		srv.Engine.Shutdown(ctx)
		cancel()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("engine Shutdown took %v with a 1s context", d)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("client sessions still running 15s after the server shut down")
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// The echo's drain goroutines block in Session.Flush: the sessions
		// ended, so every one of them must have returned.
		drained := make(chan struct{})
		go func() { srv.live.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(5 * time.Second):
			t.Fatal("a server-side Flush still blocks 5s after its session ended")
		}
	})
}

// A client that connects and then vanishes before any request is
// reclaimed by the native server's idle timeout; others are served.
func TestFaultVanishedClientReclaimedByIdleTimeout(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend, Front: FrontNative, HTTP: rhttp.Settings{IdleTimeout: 200 * time.Millisecond}})
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Half a request, then silence: not idle by the letter (a request
		// started) but the header timeout covers that; a bare connection is
		// the idle case.
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
			t.Fatalf("read %d bytes, %v: want the server to close", n, err)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("idle connection still open after 5s with a 200ms idle timeout")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("closed after %v with a 200ms idle timeout", d)
		}
		healthy(t, srv.Addr)
	})
}

// A peer that stops reading, lets a backlog build, then resets: the bytes
// still queued are lost, and that must not be silent. Flush returns (well
// before its deadline) an error, or the session's Err reports the failure.
func TestFaultResetWithBacklog(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, pc := dialRawPeer(t, ctx, backend, rawws.Options{Handler: rawws.HandlerFuncs{}})
		pc.(*net.TCPConn).SetReadBuffer(64 << 10)
		payload := make([]byte, 64<<10)
		// Event mode never blocks: send until the session holds a backlog.
		for i := 0; i < 4000 && s.Buffered() < 1<<20; i++ {
			if err := s.SendBinary(ctx, payload); err != nil && !errors.Is(err, rawws.ErrQueueFull) {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if s.Buffered() < 1<<20 {
			t.Fatalf("no backlog built: %d bytes buffered", s.Buffered())
		}
		pc.(*net.TCPConn).SetLinger(0)
		pc.Close()
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer fcancel()
		ferr := s.Flush(fctx)
		if fctx.Err() != nil {
			t.Fatal("Flush hung until its deadline after the peer reset")
		}
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session not done 5s after the peer reset")
		}
		if ferr == nil && s.Err() == nil {
			t.Fatal("bytes queued when the peer reset were lost silently: Flush returned nil and Err is nil")
		}
		t.Logf("Flush: %v; Err: %v", ferr, s.Err())
	})
}

// dialRawPeer connects a client session with opts on a fresh engine of
// backend to a raw peer that only answers the handshake, and returns both
// ends. The engine, listener and session are released when the test ends.
func dialRawPeer(t *testing.T, ctx context.Context, backend string, opts rawws.Options) (*rawws.Session, net.Conn) {
	t.Helper()
	eng, err := poller.New(backend, poller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peer := make(chan net.Conn, 1)
	go func() {
		c, _ := acceptWS(ln)
		peer <- c
	}()
	s, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Engine: eng, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(errors.New("test over")) })
	pc := <-peer
	if pc == nil {
		t.Fatal("peer handshake failed")
	}
	return s, pc
}
