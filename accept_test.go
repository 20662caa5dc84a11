package rawws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// startNative serves every request of rawws's own HTTP server on eng with
// Accept(opts), reporting Accept's errors on the returned channel.
func startNative(t *testing.T, eng poller.Engine, opts *AcceptOptions) (string, <-chan error) {
	return serveAccept(t, eng, opts, true)
}

// serveAccept is startNative with the choice of where Accept runs: on the
// loop (nonBlocking) or on a handler goroutine of its own.
func serveAccept(t *testing.T, eng poller.Engine, opts *AcceptOptions, nonBlocking bool) (string, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	var h rhttp.Handler = rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) {
		_, err := Accept(w, r, opts)
		errs <- err
	})
	if nonBlocking {
		h = rhttp.NonBlocking(h)
	}
	hs := rhttp.NewServer(rhttp.Settings{Engine: eng}, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	})
	return ln.Addr().String(), errs
}

// Accept upgrades in place on every backend: the session echoes, joins the
// options' group and leaves it at the end; a group that drained refuses
// the next upgrade with 503 and ErrDraining.
func TestAccept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		var g Group
		opts := &AcceptOptions{Options: Options{MessageHandler: echoMessages, Group: &g}}
		addr, errs := startNative(t, eng, opts)
		c := dialRaw(t, addr)
		if err := <-errs; err != nil {
			t.Fatalf("Accept: %v", err)
		}
		c.send(true, frame.OpText, []byte("native"))
		if h, p, err := c.readFrame(5 * time.Second); err != nil || h.Opcode != frame.OpText || string(p) != "native" {
			t.Fatalf("echo: %v %q %v", h.Opcode, p, err)
		}
		if g.Len() != 1 {
			t.Fatalf("%d sessions in the group, want 1", g.Len())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			// Answer the drain's Close and hang up, as a client does.
			if h, p, err := c.readFrame(5 * time.Second); err == nil && h.Opcode == frame.OpClose {
				c.send(true, frame.OpClose, p)
			}
			c.nc.Close()
		}()
		if err := g.Drain(ctx); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		if st := g.Stats(); st.Closed.Shutdown != 1 || st.Open != 0 {
			t.Fatalf("stats after the drain: %+v", st)
		}

		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, _ := io.ReadAll(nc)
		if !strings.HasPrefix(string(resp), "HTTP/1.1 503 ") {
			t.Fatalf("upgrade into a drained group answered %q", resp)
		}
		if err := <-errs; !errors.Is(err, ErrDraining) {
			t.Fatalf("Accept into a drained group: %v", err)
		}
	})
}

// A client may send as soon as it reads the 101, and what it sends then
// may be larger than the engine's input cap (a 6 MiB message against 4 MiB
// of MaxInput) while the server still hands the connection over: the HTTP
// server's hand-off and the session's OnOpen, here one that takes 300 ms on
// the handler's goroutine. Those bytes must wait in the socket, not pile up
// in the engine until it closes the connection with ErrInputLimit (seen as
// conformance case 9.2.4 failing on std about once in 300 runs). netpoll
// holds them in memory up to MaxInput.
func TestAcceptSlowOpenHoldsNoInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		closed := make(chan error, 1)
		opts := &AcceptOptions{Options: Options{MessageHandler: MessageFuncs{
			Open:    func(*Session) { time.Sleep(300 * time.Millisecond) },
			Message: echoMessages.Message,
			Close:   func(_ *Session, err error) { closed <- err },
		}}}
		addr, errs := serveAccept(t, eng, opts, false)
		c := dialRaw(t, addr)
		size := 6 << 20
		if eng.Name() == "netpoll" {
			// netpoll cannot stop reading a socket: a paused connection
			// holds up to MaxInput and is closed past it (its doc).
			size = 3 << 20
		}
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		wrote := make(chan error, 1)
		go func() {
			c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := c.nc.Write(encodeFrame(true, frame.OpBinary, msg, true))
			wrote <- err
		}()
		h, p, err := c.readFrame(10 * time.Second)
		if err != nil {
			select {
			case cerr := <-closed:
				t.Fatalf("no echo (%v): the session ended with %v", err, cerr)
			case <-time.After(time.Second):
				t.Fatalf("no echo: %v", err)
			}
		}
		if h.Opcode != frame.OpBinary || !bytes.Equal(p, msg) {
			t.Fatalf("echo: %v of %d bytes, want the %d sent", h.Opcode, len(p), len(msg))
		}
		if err := <-wrote; err != nil {
			t.Fatalf("client write: %v", err)
		}
		if err := <-errs; err != nil {
			t.Fatalf("Accept: %v", err)
		}
	})
}

// Options that contradict each other are refused before the handshake.
func TestAcceptRefusesBothHandlers(t *testing.T) {
	eng, err := EngineFor("std")
	if err != nil {
		t.Fatal(err)
	}
	opts := &AcceptOptions{Options: Options{MessageHandler: echoMessages, Handler: HandlerFuncs{}}}
	addr, errs := startNative(t, eng, opts)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, _ := io.ReadAll(nc)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 500 ") {
		t.Fatalf("answered %q", resp)
	}
	if err := <-errs; !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Accept: %v", err)
	}
}
