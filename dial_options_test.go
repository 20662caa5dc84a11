package rawws

import (
	"context"
	"errors"
	"net"
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
