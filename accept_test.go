package rawws

import (
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
	t.Helper()
	errs := make(chan error, 16)
	hs := rhttp.NewServer(rhttp.Settings{Engine: eng}, rhttp.NonBlocking(rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) {
		_, err := Accept(w, r, opts)
		errs <- err
	})))
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
