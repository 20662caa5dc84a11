package rawws

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// pipeConn hides the socket descriptor, as a user's wrapping dialer does.
type pipeConn struct{ net.Conn }

// NetDialContext is called for the connection, and a conn without a
// descriptor still gets a working session (on the std backend).
func TestDialCustomDialer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}})
		for _, wrap := range []bool{false, true} {
			var calls atomic.Int32
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				calls.Add(1)
				var d net.Dialer
				nc, err := d.DialContext(ctx, network, addr)
				if err != nil || !wrap {
					return nc, err
				}
				return pipeConn{nc}, nil
			}
			ctx := ctx5(t)
			s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, NetDialContext: dial})
			if err != nil {
				t.Fatalf("wrap %v: %v", wrap, err)
			}
			if calls.Load() != 1 {
				t.Fatalf("wrap %v: dialer called %d times", wrap, calls.Load())
			}
			if err := s.SendText(ctx, "via dialer"); err != nil {
				t.Fatal(err)
			}
			if f := recvFrame(t, s); string(f.Payload) != "via dialer" {
				t.Fatalf("wrap %v: echo %q", wrap, f.Payload)
			}
			s.Close(errors.New("test over"))
		}
	})
}

// A server that accepts and never answers fails Dial after
// HandshakeTimeout, with a context without deadline.
func TestDialHandshakeTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
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
				defer c.Close()
			}
		}()
		start := time.Now()
		_, _, err = Dial(context.Background(), "ws://"+ln.Addr().String()+"/", DialOptions{Engine: eng, HandshakeTimeout: 200 * time.Millisecond})
		if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Dial took %v with a 200ms handshake timeout", d)
		}
	})
}

// connectProxy is a CONNECT proxy on 127.0.0.1 that wants auth ("" for
// none); it reports each Proxy-Authorization it saw.
func connectProxy(t *testing.T, auth string) (string, chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := nethttp.ReadRequest(bufio.NewReader(c))
				if err != nil || req.Method != "CONNECT" {
					return
				}
				got := req.Header.Get("Proxy-Authorization")
				seen <- got
				if auth != "" && got != auth {
					c.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"))
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
					return
				}
				defer up.Close()
				c.SetDeadline(time.Time{})
				c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), seen
}

func TestDialThroughProxy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}})
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p w"))
		paddr, seen := connectProxy(t, want)
		ctx := ctx5(t)
		via := func(u string) func(*nethttp.Request) (*url.URL, error) {
			return func(*nethttp.Request) (*url.URL, error) { return url.Parse(u) }
		}
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Proxy: via("http://u:p%20w@" + paddr)})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("proxy saw %q", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Dial did not go through the proxy")
		}
		if err := s.SendText(ctx, "tunnelled"); err != nil {
			t.Fatal(err)
		}
		if f := recvFrame(t, s); string(f.Payload) != "tunnelled" {
			t.Fatalf("echo %q", f.Payload)
		}
		s.Close(errors.New("test over"))
		// Wrong credentials: the proxy's 407 is the error.
		_, _, err = Dial(ctx, srv.URL, DialOptions{Engine: eng, Proxy: via("http://u:bad@" + paddr)})
		if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "407") {
			t.Fatalf("refused proxy: %v", err)
		}
	})
}

// DialOptions.Header reaches the server (Origin, through CheckOrigin).
func TestDialHeaderSeenByServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		origins := make(chan string, 1)
		srv := startServer(t, eng, UpgradeOptions{CheckOrigin: func(o string) bool { origins <- o; return true }})
		h := nethttp.Header{}
		h.Set("Origin", "http://client.example")
		s, _, err := Dial(ctx5(t), srv.URL, DialOptions{Engine: eng, Header: h})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		select {
		case o := <-origins:
			if o != "http://client.example" {
				t.Fatalf("server saw Origin %q", o)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("CheckOrigin not called: the header did not arrive")
		}
	})
}
