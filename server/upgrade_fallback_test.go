package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
	"github.com/rawws/rawws/server"
)

// upgradeOn runs the handshake for path on an established connection c
// (TLS in these tests), writing extra in the same write as the request,
// and fails the test unless the answer is 101.
func upgradeOn(t testing.TB, c net.Conn, host, path string, extra []byte) *wsClient {
	t.Helper()
	cl := &wsClient{c: c, br: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append([]byte(upgradeRequest(host, path)), extra...)); err != nil {
		t.Fatal(err)
	}
	status, err := cl.br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading status: %v", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("status %q", status)
	}
	for {
		line, err := cl.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading head: %v", err)
		}
		if line == "\r\n" {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return cl
}

// dialTLS opens a TLS connection to an httptest TLS server.
func dialTLS(t testing.TB, ts *httptest.Server) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ts.Listener.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// upgradeBackends are the backends a test names in UpgradeOptions, with
// "" for the package's default engine.
func upgradeBackends(t *testing.T) []string {
	return append([]string{""}, srvBackends(t)...)
}

// echoOverTLS checks a session behind TLS: pipelined frames, a small and
// a large message, both ways.
func echoOverTLS(t *testing.T, ts *httptest.Server) {
	t.Helper()
	tc := dialTLS(t, ts)
	defer tc.Close()
	c := upgradeOn(t, tc, ts.Listener.Addr().String(), "/", clientFrame(frame.OpText, []byte("pipelined")))
	c.expect(t, frame.OpText, "pipelined")
	c.send(t, frame.OpText, []byte("hello over TLS"))
	c.expect(t, frame.OpText, "hello over TLS")
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: many TLS records
	c.send(t, frame.OpBinary, big)
	op, p, err := c.read(10 * time.Second)
	if err != nil || op != frame.OpBinary || !bytes.Equal(p, big) {
		t.Fatalf("large echo: %v op %v, %d bytes (want %d)", err, op, len(p), len(big))
	}
}

// UpgradeHTTP behind net/http's TLS server: a *tls.Conn has no descriptor
// an event loop could take, so the session is served on the goroutine path
// (std) whatever backend was asked for, and it echoes.
func TestUpgradeHTTPOverTLS(t *testing.T) {
	for _, backend := range upgradeBackends(t) {
		name := backend
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			upgraded := make(chan error, 4)
			ts := httptest.NewTLSServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				_, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: echoMessages}, Backend: backend})
				upgraded <- err
			}))
			defer ts.Close()
			echoOverTLS(t, ts)
			if err := <-upgraded; err != nil {
				t.Fatalf("UpgradeHTTP: %v", err)
			}
		})
	}
}

// UpgradeHTTP into a Server's Group behind TLS: the session runs on the
// goroutine path instead of the server's engine and is still tracked, so
// Shutdown drains it with 1001.
func TestServerUpgradeHTTPOverTLS(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			ws, err := server.New(nil, server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ts := httptest.NewTLSServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				if _, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Engine: ws.Engine(), Options: rawws.Options{MessageHandler: echoMessages, Group: ws.Group()}}); err != nil {
					t.Errorf("UpgradeHTTP: %v", err)
				}
			}))
			defer ts.Close()
			echoOverTLS(t, ts)

			tc := dialTLS(t, ts)
			defer tc.Close()
			c := upgradeOn(t, tc, ts.Listener.Addr().String(), "/", nil)
			c.send(t, frame.OpText, []byte("before drain"))
			c.expect(t, frame.OpText, "before drain")
			if !settle(2*time.Second, func() bool { return ws.Metrics().Open >= 1 }) {
				t.Fatalf("session not tracked: %+v", ws.Metrics())
			}
			done := make(chan error, 1)
			go func() {
				ctx, cancel := contextWithTimeout(5 * time.Second)
				defer cancel()
				done <- ws.Shutdown(ctx)
			}()
			c.expect(t, frame.OpClose, string(closePayloadText(frame.CloseGoingAway, "server shutting down")))
			c.send(t, frame.OpClose, closePayload(frame.CloseGoingAway))
			c.expectEOF(t)
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

func closePayloadText(code frame.CloseCode, text string) []byte {
	p, _ := frame.AppendCloseReason(nil, frame.CloseReason{Code: code, Text: text})
	return p
}

// refusingEngine is an engine whose Adopt fails without touching the
// connection, as any engine may (shut down, out of descriptors).
type refusingEngine struct{ poller.Engine }

var errRefused = errors.New("adopt refused")

func (refusingEngine) Adopt(net.Conn, []byte, poller.Handler) (poller.Conn, error) {
	return nil, errRefused
}

// When the hand-off to the engine fails, the client gets an HTTP error and
// never a 101: the answer is written only once the engine has the
// connection.
func TestUpgradeHTTPFailedHandOffIsNoSwitch(t *testing.T) {
	std, err := poller.New("std", poller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer std.Close()
	closed, err := poller.New("std", poller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for _, tc := range []struct {
		name string
		eng  poller.Engine
	}{
		{"refusing", refusingEngine{std}},
		{"shut down", closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opened atomic.Int64
			errs := make(chan error, 1)
			ln := listenLocal(t)
			srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				h := rawws.MessageFuncs{Open: func(*rawws.Session) { opened.Add(1) }}
				_, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: h}, Engine: tc.eng})
				errs <- err
			})}
			go srv.Serve(ln)
			defer srv.Close()
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprint(c, upgradeRequest(ln.Addr().String(), "/"))
			all, rerr := io.ReadAll(c)
			status, _, _ := strings.Cut(string(all), "\r\n")
			if !strings.HasPrefix(status, "HTTP/1.1 5") {
				t.Fatalf("answer %q (read error %v), want a 5xx and no 101", status, rerr)
			}
			if err := <-errs; err == nil {
				t.Fatal("UpgradeHTTP reported no error")
			}
			if n := opened.Load(); n != 0 {
				t.Fatalf("%d sessions opened", n)
			}
		})
	}
}

// A session whose OnOpen sends at once: the frame always follows the 101,
// whichever of the engine's loop and UpgradeHTTP's goroutine opens the
// session, and the frames the client pipelined are read after OnOpen.
func TestUpgradeHTTPOnOpenSendsAfterTheSwitch(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			eng, err := poller.New(backend, poller.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			h := rawws.MessageFuncs{
				Open: func(s *rawws.Session) {
					s.SendCopy(bgctx, frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte("hello first")})
				},
				Message: echoMessages.Message,
			}
			ln := listenLocal(t)
			srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				if _, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: h}, Engine: eng}); err != nil {
					t.Errorf("upgrade: %v", err)
				}
			})}
			go srv.Serve(ln)
			defer srv.Close()
			for i := range 50 {
				c := dialWS(t, ln.Addr().String(), "/", clientFrame(frame.OpText, fmt.Appendf(nil, "echo %d", i)))
				c.expect(t, frame.OpText, "hello first")
				c.expect(t, frame.OpText, fmt.Sprintf("echo %d", i))
				c.c.Close()
			}
		})
	}
}

// A client that sends its upgrade, a frame and a Close in one write and
// half-closes at once still gets the 101, the echo and the Close answer
// through UpgradeHTTP: the FIN that can come while the session waits for
// its 101 is kept for it, not taken as the end.
func TestUpgradeHTTPHalfCloseAnswered(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			eng, err := poller.New(backend, poller.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			var opened atomic.Int64
			addr, stop := netHTTPUpgrader(t, eng, &opened)
			defer stop()
			const tries = 100
			ok := 0
			var last error
			for range tries {
				out, err := halfCloseClient(t, addr)
				if err == nil {
					err = wantEchoAndClose(out)
				}
				if err == nil {
					ok++
				} else {
					last = err
				}
			}
			if ok != tries {
				t.Fatalf("%d/%d answered; last failure: %v", ok, tries, last)
			}
		})
	}
}
