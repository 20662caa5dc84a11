package server_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
	"github.com/rawws/rawws/server"
)

// upperChannel is a channel-mode handler: it answers each text frame with
// its upper-case form until the peer's Close, which it answers.
func upperChannel(s *rawws.Session) {
	for f := range s.Incoming() {
		switch f.Opcode {
		case frame.OpText:
			s.Send(bgctx, frame.Frame{Fin: true, Opcode: frame.OpText, Payload: bytes.ToUpper(f.Payload)})
		case frame.OpClose:
			s.Send(bgctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: f.Payload})
			return
		}
	}
}

func testModule(a *server.App) {
	a.HandleFunc("/hello", func(w *rhttp.ResponseWriter, r *rhttp.Request) { w.WriteString("hello from native") })
	a.HandleNetHTTP("/std", nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Write([]byte("hello from net/http"))
	}))
	a.WebSocket("/ws", rawws.Options{MessageHandler: echoMessages})
	a.Channel("/chan", upperChannel)
}

// EmbeddedServer serves an App: native and net/http routes, event-mode
// and channel-mode WebSocket endpoints, 404 elsewhere, on loopback by
// default.
func TestEmbeddedServerRoutes(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			srv, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: backend}}, testModule)
			if err != nil {
				t.Fatal(err)
			}
			addr := srv.Addr().String()
			if !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("default address %s, want loopback", addr)
			}
			if srv.Engine().Name() != backend {
				t.Errorf("engine %s, want %s", srv.Engine().Name(), backend)
			}
			tests := []struct{ path, status, body string }{
				{"/hello", " 200 ", "hello from native"},
				{"/std", " 200 ", "hello from net/http"},
				{"/missing", " 404 ", ""},
				{"/ws", " 426 ", ""},
			}
			for _, tc := range tests {
				status, body := httpGet(t, addr, tc.path, "")
				if !strings.Contains(status, tc.status) || !strings.Contains(body, tc.body) {
					t.Errorf("GET %s: %q %q, want%s%q", tc.path, status, body, tc.status, tc.body)
				}
			}
			ws := dialWS(t, addr, "/ws", nil)
			ws.send(t, frame.OpText, []byte("event"))
			ws.expect(t, frame.OpText, "event")
			ch := dialWS(t, addr, "/chan", nil)
			ch.send(t, frame.OpText, []byte("channel"))
			ch.expect(t, frame.OpText, "CHANNEL")
			if n := srv.Group().Len(); n != 2 {
				t.Errorf("%d sessions registered, want 2", n)
			}

			// Both sessions are drained: the message one by the session
			// itself, the channel one by its handler answering the Close.
			ctx, cancel := context.WithTimeout(bgctx, 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- srv.Shutdown(ctx) }()
			for _, c := range []*wsClient{ws, ch} {
				op, p, err := c.read(5 * time.Second)
				if err != nil || op != frame.OpClose {
					t.Fatalf("got %v %q %v, want close", op, p, err)
				}
				c.send(t, frame.OpClose, p[:2])
				c.expectEOF(t)
			}
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := srv.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
		})
	}
}

func TestEmbeddedServerErrors(t *testing.T) {
	if _, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "nope"}}, nil); !errors.Is(err, poller.ErrUnknownBackend) {
		t.Errorf("unknown backend: %v", err)
	}
	taken := listenLocal(t)
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	if _, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "std"}, Port: port}, nil); err == nil {
		t.Error("listening on a port in use succeeded")
	}
}

func TestAppEndpointWithoutHandlerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for an endpoint without a handler")
		}
	}()
	server.New(func(a *server.App) { a.WebSocket("/x", rawws.Options{}) }, server.Config{Backend: "std"})
}
