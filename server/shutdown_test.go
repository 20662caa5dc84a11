package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// Shutdown under load: 1,000 sessions with echoes in flight. Every session
// gets Close 1001, every message the server had queued before the drain
// reaches its client ahead of it, and nothing leaks (goroutines, fds).
func TestShutdownDrainsUnderLoad(t *testing.T) {
	const maxSessions, perClient = 1000, 3
	sessions := maxSessions
	if testing.Short() {
		sessions = 200 // the arm64 run under qemu
	}
	for _, backend := range eventBackends(t) {
		t.Run(backend, func(t *testing.T) {
			// Start whatever a backend starts once per process before the
			// baseline is taken.
			warmUp(t, backend)
			goBefore, fdBefore := runtime.NumGoroutine(), openFDs()

			var sent [maxSessions]atomic.Int64
			echo := rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
				id, _, _ := bytes.Cut(p, []byte(":"))
				i, err := strconv.Atoi(string(id))
				if err != nil || i < 0 || i >= sessions {
					t.Errorf("bad message %q", p)
					return
				}
				// Counted only when queued: those must reach the client.
				if s.SendCopy(bgctx, frame.Frame{Fin: true, Opcode: op, Payload: p}) == nil {
					sent[i].Add(1)
				}
			}}
			srv, err := server.New(func(a *server.App) { a.WebSocket("/echo", rawws.Options{MessageHandler: echo}) },
				server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			ln := listenLocal(t)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			addr := ln.Addr().String()

			clients := make([]*wsClient, sessions)
			for i := range clients {
				clients[i] = dialWS(t, addr, "/echo", nil)
			}
			if !settle(5*time.Second, func() bool { return srv.Group().Len() == sessions }) {
				t.Fatalf("%d sessions registered, want %d", srv.Group().Len(), sessions)
			}
			// Mid-echo: every client has messages on the wire when the drain
			// begins; some are echoed before it, the rest are refused.
			for i, c := range clients {
				var burst []byte
				for j := range perClient {
					burst = append(burst, clientFrame(frame.OpText, fmt.Appendf(nil, "%d:%d", i, j))...)
				}
				if _, err := c.c.Write(burst); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(bgctx, 30*time.Second)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(ctx) }()

			var echoed int64
			for i, c := range clients {
				got := int64(0)
				for {
					op, p, err := c.read(10 * time.Second)
					if err != nil {
						t.Fatalf("client %d: %v after %d echoes", i, err, got)
					}
					if op == frame.OpClose {
						r, err := frame.ParseCloseReason(p)
						if err != nil || r.Code != frame.CloseGoingAway {
							t.Fatalf("client %d: close %q (%v), want 1001", i, p, err)
						}
						break
					}
					if want := fmt.Sprintf("%d:%d", i, got); string(p) != want {
						t.Fatalf("client %d: got %q, want %q", i, p, want)
					}
					got++
				}
				c.send(t, frame.OpClose, closePayload(frame.CloseGoingAway))
				c.expectEOF(t)
				if s := sent[i].Load(); got != s {
					t.Errorf("client %d received %d echoes, the server queued %d before the drain", i, got, s)
				}
				echoed += got
			}
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-served; err != server.ErrServerClosed || !errors.Is(err, rhttp.ErrServerClosed) {
				t.Errorf("Serve: %v, want ErrServerClosed, which is also http's", err)
			}
			t.Logf("%s: %d echoes delivered before 1001 to %d sessions", backend, echoed, sessions)
			m := srv.Metrics()
			if m.Open != 0 || m.Closed.Shutdown != uint64(sessions) || m.Accepted != uint64(sessions) {
				t.Errorf("metrics after drain: open %d, shutdown-closed %d, accepted %d", m.Open, m.Closed.Shutdown, m.Accepted)
			}

			var goAfter, fdAfter int
			ok := settle(5*time.Second, func() bool {
				goAfter, fdAfter = runtime.NumGoroutine(), openFDs()
				return goAfter <= goBefore+1 && fdAfter <= fdBefore
			})
			if !ok {
				buf := make([]byte, 1<<16)
				t.Fatalf("leak: goroutines %d -> %d, fds %d -> %d\n%s", goBefore, goAfter, fdBefore, fdAfter, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// warmUp runs one session through a server of backend and shuts it down,
// so that what a backend starts once per process (netpoll's pollers) is
// in the leak baseline.
func warmUp(t *testing.T, backend string) {
	t.Helper()
	srv, err := server.New(func(a *server.App) { a.WebSocket("/", rawws.Options{MessageHandler: echoMessages}) },
		server.Config{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLocal(t)
	go srv.Serve(ln)
	c := dialWS(t, ln.Addr().String(), "/", nil)
	c.send(t, frame.OpText, []byte("warm"))
	c.expect(t, frame.OpText, "warm")
	c.c.Close()
	srv.Close()
	time.Sleep(20 * time.Millisecond)
}

// Raw frame sessions answer nothing by themselves; the drain still ends
// them once the peer answers the 1001. An HTTP request in flight when the
// drain begins still gets its whole response, and new handshakes during
// the drain are refused.
func TestShutdownRawSessionsAndHTTPInFlight(t *testing.T) {
	for _, backend := range eventBackends(t) {
		t.Run(backend, func(t *testing.T) {
			var frames atomic.Int64
			slow := make(chan struct{})
			srv, err := server.New(func(a *server.App) {
				a.WebSocket("/raw", rawws.Options{Handler: rawws.HandlerFuncs{
					Frame: func(s *rawws.Session, f frame.Frame) { frames.Add(1) },
				}})
				a.HandleFunc("/slow", func(w *rhttp.ResponseWriter, r *rhttp.Request) {
					close(slow)
					time.Sleep(200 * time.Millisecond)
					w.WriteString("finished")
				})
			}, server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			ln := listenLocal(t)
			go srv.Serve(ln)
			addr := ln.Addr().String()
			c := dialWS(t, addr, "/raw", nil)
			settle(time.Second, func() bool { return srv.Group().Len() == 1 })

			type result struct{ status, body string }
			got := make(chan result, 1)
			go func() {
				status, body := httpGet(t, addr, "/slow", "")
				got <- result{status, body}
			}()
			<-slow
			ctx, cancel := contextWithTimeout(10 * time.Second)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(ctx) }()

			op, p, err := c.read(5 * time.Second)
			if err != nil || op != frame.OpClose {
				t.Fatalf("raw session: %v %q %v, want close", op, p, err)
			}
			c.send(t, frame.OpClose, p[:2])
			c.expectEOF(t)
			if r := <-got; !strings.Contains(r.status, " 200 ") || r.body != "finished" {
				t.Errorf("in-flight request: %q %q", r.status, r.body)
			}
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if frames.Load() != 1 {
				t.Errorf("raw handler saw %d frames, want the close answer", frames.Load())
			}
			if m := srv.Metrics(); m.Closed.Shutdown != 1 {
				t.Errorf("closed %+v, want one by shutdown", m.Closed)
			}
		})
	}
}

// Sessions a net/http server upgrades with rawws.UpgradeHTTP into the
// Server's Group are drained by the Server's Shutdown, in every mode.
func TestShutdownNetHTTPUpgrades(t *testing.T) {
	srv, err := server.New(nil, server.Config{Backend: "epoll"})
	if err != nil {
		t.Skip(err)
	}
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/msg", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Engine: srv.Engine(), Options: rawws.Options{MessageHandler: echoMessages, Group: srv.Group()}})
	})
	mux.HandleFunc("/chan", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		s, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Engine: srv.Engine(), Options: rawws.Options{Group: srv.Group()}})
		if err == nil {
			go s.Start(upperChannel)
		}
	})
	ln := listenLocal(t)
	hs := &nethttp.Server{Handler: mux}
	go hs.Serve(ln)
	defer hs.Close()
	addr := ln.Addr().String()
	clients := []*wsClient{dialWS(t, addr, "/msg", nil), dialWS(t, addr, "/chan", nil)}
	clients[0].send(t, frame.OpText, []byte("a"))
	clients[0].expect(t, frame.OpText, "a")
	clients[1].send(t, frame.OpText, []byte("b"))
	clients[1].expect(t, frame.OpText, "B")
	if !settle(time.Second, func() bool { return srv.Group().Len() == 2 }) {
		t.Fatalf("%d sessions tracked, want 2", srv.Group().Len())
	}
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	for _, c := range clients {
		op, p, err := c.read(5 * time.Second)
		if err != nil || op != frame.OpClose {
			t.Fatalf("%v %q %v, want close", op, p, err)
		}
		c.send(t, frame.OpClose, p[:2])
		c.expectEOF(t)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	// Upgrades after the drain are refused.
	status, _ := httpGet(t, addr, "/msg", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	if !strings.Contains(status, " 503 ") {
		t.Errorf("upgrade after Shutdown: %q, want 503", status)
	}
}
