package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

var bgctx = context.Background()

// Serve takes a listener the caller made, answers WebSocket handshakes on
// every path, refuses other requests with 426 (or hands them to the
// fallback handler) and returns once the listener is closed.
func TestServeListener(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			ln := listenLocal(t)
			addr := ln.Addr().String()
			served := make(chan error, 1)
			go func() {
				served <- server.Serve(ln, server.Endpoint{Options: rawws.Options{MessageHandler: echoMessages}}, server.Config{Backend: backend})
			}()

			c := dialWS(t, addr, "/any/path", nil)
			c.send(t, frame.OpText, []byte("hello"))
			c.expect(t, frame.OpText, "hello")
			c.send(t, frame.OpBinary, []byte{1, 2, 3})
			c.expect(t, frame.OpBinary, "\x01\x02\x03")

			status, _ := httpGet(t, addr, "/", "")
			if !strings.Contains(status, " 426 ") {
				t.Errorf("plain GET: %q, want 426", status)
			}

			ln.Close()
			// The open session is drained: 1001, our answer, then the end.
			op, p, err := c.read(5 * time.Second)
			if err != nil || op != frame.OpClose || len(p) < 2 || string(p[:2]) != string(closePayload(frame.CloseGoingAway)) {
				t.Fatalf("after closing the listener: %v %q %v, want close 1001", op, p, err)
			}
			c.send(t, frame.OpClose, p[:2])
			c.expectEOF(t)
			select {
			case err := <-served:
				if err == nil {
					t.Error("Serve returned nil after the listener closed")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after the listener closed")
			}
			c.c.Close()
		})
	}
}

func TestServeFallbackHandler(t *testing.T) {
	ln := listenLocal(t)
	addr := ln.Addr().String()
	fallback := rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) {
		w.WriteString("plain " + r.Path)
	})
	go server.Serve(ln, server.Endpoint{Options: rawws.Options{MessageHandler: echoMessages}, NotUpgrade: fallback}, server.Config{})
	defer ln.Close()
	status, body := httpGet(t, addr, "/page", "")
	if !strings.Contains(status, " 200 ") || body != "plain /page" {
		t.Fatalf("got %q %q", status, body)
	}
	c := dialWS(t, addr, "/ws", nil)
	c.send(t, frame.OpText, []byte("x"))
	c.expect(t, frame.OpText, "x")
	c.c.Close()
}

// Raw frame event mode through Serve: WithSessionOptions gives the handler.
func TestServeRawFrames(t *testing.T) {
	ln := listenLocal(t)
	raw := rawws.HandlerFuncs{Frame: func(s *rawws.Session, f frame.Frame) {
		s.SendCopy(bgctx, f) // echo everything, control frames included
	}}
	srv, err := server.New(func(a *server.App) { a.WebSocket("/", rawws.Options{Handler: raw}) }, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c := dialWS(t, ln.Addr().String(), "/", nil)
	c.send(t, frame.OpPing, []byte("p"))
	c.expect(t, frame.OpPing, "p") // raw: nothing answered, the frame is echoed
	c.c.Close()
}

func TestServeAfterShutdown(t *testing.T) {
	srv, err := server.New(nil, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(bgctx); err != nil {
		t.Fatal(err)
	}
	ln := listenLocal(t)
	if err := srv.Serve(ln); !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener is still open")
	}
}

func TestServeUnknownBackend(t *testing.T) {
	ln := listenLocal(t)
	err := server.Serve(ln, server.Endpoint{Options: rawws.Options{MessageHandler: echoMessages}}, server.Config{Backend: "nope"})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("got %v", err)
	}
}

// A connection accepted by the caller (here after sniffing its first
// bytes) is handed over with those bytes and served like any other:
// HTTP routes and WebSocket handshakes.
func TestServerServeConn(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			srv, err := server.New(func(a *server.App) {
				a.WebSocket("/ws", rawws.Options{MessageHandler: echoMessages})
				a.HandleFunc("/page", func(w *rhttp.ResponseWriter, r *rhttp.Request) { w.WriteString("page") })
			}, server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ln := listenLocal(t)
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					sniff := make([]byte, 4)
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, _ := io.ReadFull(c, sniff)
					c.SetReadDeadline(time.Time{})
					if err := srv.ServeConn(c, sniff[:n]); err != nil {
						t.Errorf("ServeConn: %v", err)
					}
				}
			}()
			addr := ln.Addr().String()
			status, body := httpGet(t, addr, "/page", "")
			if !strings.Contains(status, " 200 ") || body != "page" {
				t.Errorf("GET /page: %q %q", status, body)
			}
			c := dialWS(t, addr, "/ws", clientFrame(frame.OpText, []byte("pipelined")))
			c.expect(t, frame.OpText, "pipelined")
			if n := srv.Group().Len(); n != 1 {
				t.Errorf("%d sessions tracked, want 1", n)
			}
			c.c.Close()
		})
	}
}

func TestServeWithoutHandler(t *testing.T) {
	ln := listenLocal(t)
	if err := server.Serve(ln, server.Endpoint{}, server.Config{}); err == nil {
		t.Fatal("Serve without a handler succeeded")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener was left open")
	}
}
