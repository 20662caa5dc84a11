package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// startApp serves module on 127.0.0.1 with backend and returns the address.
func startApp(t *testing.T, backend string, module func(*server.App)) string {
	t.Helper()
	ln := listenLocal(t)
	srv, err := server.New(module, server.Config{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// Seed: start's end flushes. A channel handler that sends on Outgoing and
// returns has every frame delivered, then the connection ends.
func TestStartDeliversOutgoing(t *testing.T) {
	for _, b := range srvBackends(t) {
		t.Run(b, func(t *testing.T) {
			addr := startApp(t, b, func(a *server.App) {
				a.Channel("/", func(s *rawws.Session) {
					out := s.Outgoing()
					for i := 0; i < 3; i++ {
						out <- frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte(fmt.Sprint(i))}
					}
				})
			})
			for try := 0; try < 20; try++ {
				c := dialWS(t, addr, "/", nil)
				for i := 0; i < 3; i++ {
					op, p, err := c.read(5 * time.Second)
					if err != nil || op != frame.OpText || string(p) != fmt.Sprint(i) {
						t.Fatalf("try %d: frame %d: %v %q %v", try, i, op, p, err)
					}
				}
				c.expectEOF(t)
			}
		})
	}
}

// halfCloseClient sends the upgrade, a text frame and a Close in one write,
// shuts its write side, and returns everything the server wrote after the
// 101 until it closed.
func halfCloseClient(t *testing.T, addr string) ([]byte, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := []byte(upgradeRequest(addr, "/"))
	req = append(req, clientFrame(frame.OpText, []byte("echo me"))...)
	req = append(req, clientFrame(frame.OpClose, closePayload(frame.CloseNormal))...)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).CloseWrite()
	all, err := io.ReadAll(nc)
	_, rest, ok := bytes.Cut(all, []byte("\r\n\r\n"))
	if !ok {
		return nil, fmt.Errorf("no response head in %q (%v)", all, err)
	}
	return rest, err
}

// wantEchoAndClose checks the bytes after the 101: the echo, then a Close.
func wantEchoAndClose(b []byte) error {
	var p frame.Parser
	var ops []frame.Opcode
	var text string
	for len(b) > 0 {
		n, done, err := p.Parse(b)
		if err != nil || !done {
			return fmt.Errorf("bad frames %x: %v", b, err)
		}
		h := p.Header()
		b = b[n:]
		if int64(len(b)) < h.Length {
			return fmt.Errorf("truncated frame %v", h.Opcode)
		}
		if h.Opcode == frame.OpText {
			text = string(b[:h.Length])
		}
		ops = append(ops, h.Opcode)
		b = b[h.Length:]
	}
	if len(ops) != 2 || ops[0] != frame.OpText || text != "echo me" || ops[1] != frame.OpClose {
		return fmt.Errorf("got frames %v (text %q), want the echo then a Close", ops, text)
	}
	return nil
}

// A client that half-closes right after its frames and its Close still
// gets its echo and the Close answer, in message mode and channel mode.
func TestHalfCloseAnswered(t *testing.T) {
	modes := map[string]func(*server.App){
		"message": func(a *server.App) { a.WebSocket("/", rawws.Options{MessageHandler: echoMessages}) },
		"frames": func(a *server.App) {
			a.WebSocket("/", rawws.Options{Handler: rawws.HandlerFuncs{Frame: func(s *rawws.Session, f frame.Frame) {
				s.SendCopy(bgctx, f) // the Close too: a raw session answers nothing itself
			}}})
		},
		"channel": func(a *server.App) {
			a.Channel("/", func(s *rawws.Session) {
				for f := range s.Incoming() {
					if f.Opcode == frame.OpClose {
						s.Send(bgctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: f.Payload})
						return
					}
					s.Send(bgctx, f)
				}
			})
		},
	}
	for _, b := range srvBackends(t) {
		for name, module := range modes {
			t.Run(b+"/"+name, func(t *testing.T) {
				addr := startApp(t, b, module)
				const tries = 100
				ok := 0
				var last error
				for i := 0; i < tries; i++ {
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
}

// A channel handler that never returns cannot keep a half-closed
// connection: it ends at Options.CloseTimeout after the peer's FIN.
func TestHalfCloseBoundedByCloseTimeout(t *testing.T) {
	for _, b := range srvBackends(t) {
		t.Run(b, func(t *testing.T) {
			block := make(chan struct{})
			defer close(block)
			ended := make(chan error, 1)
			addr := startApp(t, b, func(a *server.App) {
				a.Endpoint("/", server.Endpoint{
					Options: rawws.Options{CloseTimeout: 200 * time.Millisecond},
					Channel: func(s *rawws.Session) {
						go func() { <-s.Done(); ended <- s.Err() }()
						<-block
					},
				})
			})
			c := dialWS(t, addr, "/", nil)
			c.send(t, frame.OpText, []byte("hello"))
			c.c.(*net.TCPConn).CloseWrite()
			start := time.Now()
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c.br); err != nil && !isResetErr(err) {
				t.Fatalf("waiting for the end: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("connection ended after %v", d)
			}
			select {
			case err := <-ended:
				if !errors.Is(err, rawws.ErrCloseTimeout) {
					t.Fatalf("Err = %v, want ErrCloseTimeout", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("session did not end")
			}
		})
	}
}

func isResetErr(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}
