package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// Server.ServeConn given a *tls.Conn from the caller's own accept loop:
// no event loop can take it, so it is served on std, HTTP and WebSocket
// alike, on every backend, instead of being refused.
func TestServeConnTLS(t *testing.T) {
	ts := httptest.NewTLSServer(nil) // only for its certificate
	cfg := ts.TLS.Clone()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			srv, err := server.New(func(a *server.App) {
				a.WebSocket("/ws", rawws.Options{MessageHandler: echoMessages})
				a.HandleFunc("/hello", func(w *rhttp.ResponseWriter, r *rhttp.Request) { w.WriteString("hello over TLS") })
			}, server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ln := listenLocal(t)
			defer ln.Close()
			served := make(chan error, 4)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					served <- srv.ServeConn(tls.Server(c, cfg), nil)
				}
			}()
			dial := func() *tls.Conn {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
					&tls.Config{RootCAs: pool, ServerName: "example.com"})
				if err != nil {
					t.Fatal(err)
				}
				if err := <-served; err != nil {
					t.Fatalf("ServeConn: %v", err)
				}
				return c
			}

			hc := dial()
			hc.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(hc, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			all, err := io.ReadAll(hc)
			hc.Close()
			if !strings.HasPrefix(string(all), "HTTP/1.1 200 ") || !strings.HasSuffix(string(all), "hello over TLS") {
				t.Fatalf("GET over TLS: %q %v", all, err)
			}

			wc := dial()
			defer wc.Close()
			c := upgradeOn(t, wc, ln.Addr().String(), "/ws", clientFrame(frame.OpText, []byte("pipelined")))
			c.expect(t, frame.OpText, "pipelined")
			c.send(t, frame.OpBinary, []byte("echo over TLS"))
			c.expect(t, frame.OpBinary, "echo over TLS")
		})
	}
}

// Server.Serve given a TLS listener (tls.NewListener): the event loops
// cannot watch it, so the server accepts from it itself and serves every
// connection on std, on every backend; Shutdown still ends Serve and
// drains the sessions.
func TestServeTLSListener(t *testing.T) {
	ts := httptest.NewTLSServer(nil) // only for its certificate
	cfg := ts.TLS.Clone()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			srv, err := server.New(func(a *server.App) {
				a.WebSocket("/ws", rawws.Options{MessageHandler: echoMessages})
			}, server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ln := listenLocal(t)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(tls.NewListener(ln, cfg)) }()
			wc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
				&tls.Config{RootCAs: pool, ServerName: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			defer wc.Close()
			c := upgradeOn(t, wc, ln.Addr().String(), "/ws", nil)
			c.send(t, frame.OpText, []byte("tls listener"))
			c.expect(t, frame.OpText, "tls listener")

			shut := make(chan error, 1)
			go func() {
				ctx, cancel := contextWithTimeout(5 * time.Second)
				defer cancel()
				shut <- srv.Shutdown(ctx)
			}()
			c.expect(t, frame.OpClose, string(closePayloadText(frame.CloseGoingAway, "server shutting down")))
			c.send(t, frame.OpClose, closePayload(frame.CloseGoingAway))
			c.expectEOF(t)
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			select {
			case err := <-served:
				if !errors.Is(err, server.ErrServerClosed) {
					t.Fatalf("Serve returned %v, want ErrServerClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after Shutdown")
			}
		})
	}
}
