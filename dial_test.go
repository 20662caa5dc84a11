package rawws

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// echoMessages echoes every message with its opcode.
var echoMessages = MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) {
	s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
}}

func TestDialUpgradeRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}})
		ctx := ctx5(t)
		s, resp, err := Dial(ctx, srv.URL+"echo?x=1", DialOptions{Engine: eng})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		if resp.StatusCode != 101 || !s.Masking() {
			t.Fatalf("status %d masking %v", resp.StatusCode, s.Masking())
		}
		pattern := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('a' + i%26)
			}
			return b
		}
		for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 64 << 10, 1 << 20} {
			for _, op := range []frame.Opcode{frame.OpText, frame.OpBinary} {
				want := pattern(n)
				if err := s.Send(ctx, frame.Frame{Fin: true, Opcode: op, Payload: want}); err != nil {
					t.Fatal(err)
				}
				f := recvFrame(t, s)
				if f.Opcode != op || !f.Fin || !bytes.Equal(f.Payload, want) {
					t.Fatalf("%v %d B: got %v fin=%v %d B", op, n, f.Opcode, f.Fin, len(f.Payload))
				}
			}
		}
		// A fragmented text message comes back whole.
		parts := []string{"frag", "men", "", "ted é"}
		for i, p := range parts {
			op := frame.OpContinuation
			if i == 0 {
				op = frame.OpText
			}
			if err := s.Send(ctx, frame.Frame{Fin: i == len(parts)-1, Opcode: op, Payload: []byte(p)}); err != nil {
				t.Fatal(err)
			}
		}
		if f := recvFrame(t, s); string(f.Payload) != strings.Join(parts, "") || !f.Fin || f.Opcode != frame.OpText {
			t.Fatalf("fragmented: %+v", f)
		}
		// SendText / SendBinary are one final frame each.
		s.SendText(ctx, "hello")
		s.SendBinary(ctx, []byte{1, 2, 3})
		if f := recvFrame(t, s); f.Opcode != frame.OpText || string(f.Payload) != "hello" {
			t.Fatalf("%+v", f)
		}
		if f := recvFrame(t, s); f.Opcode != frame.OpBinary || !bytes.Equal(f.Payload, []byte{1, 2, 3}) {
			t.Fatalf("%+v", f)
		}
		// The server answers our ping (message mode), and our close.
		s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpPing, Payload: []byte("pp")})
		if f := recvFrame(t, s); f.Opcode != frame.OpPong || string(f.Payload) != "pp" {
			t.Fatalf("pong: %+v", f)
		}
		if err := s.CloseWith(ctx, frame.CloseReason{Code: frame.CloseNormal, Text: "bye"}); err != nil {
			t.Fatal(err)
		}
		f := recvFrame(t, s)
		if f.Opcode != frame.OpClose || !bytes.Equal(f.Payload, []byte{0x03, 0xe8}) {
			t.Fatalf("close echo: %+v", f)
		}
		// The server closes TCP after its Close: Incoming ends.
		select {
		case _, ok := <-s.Incoming():
			if ok {
				t.Fatal("frame after close")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("server did not close the connection")
		}
	})
}

func TestDialErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		ctx := ctx5(t)
		for _, u := range []string{"http://x/", "wss://x/", "ws:///nohost", "::bad"} {
			if _, _, err := Dial(ctx, u, DialOptions{Engine: eng}); !errors.Is(err, ErrBadURL) {
				t.Errorf("%s: %v", u, err)
			}
		}
		// A server that answers 200 fails the handshake.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		for _, answer := range []string{
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong=\r\n\r\n",
		} {
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				c.Write([]byte(answer))
				time.Sleep(100 * time.Millisecond)
			}()
			_, resp, err := Dial(ctx, "ws://"+ln.Addr().String()+"/", DialOptions{Engine: eng})
			if !errors.Is(err, ErrHandshake) || resp == nil {
				t.Errorf("answer %q: err %v resp %v", answer, err, resp)
			}
		}
	})
}

func TestUpgradeRejects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{})
		for _, tc := range []struct {
			req    string
			status string
		}{
			{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
			{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", "426"},
			{"GET / HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", "403"},
		} {
			nc, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			nc.Write([]byte(tc.req))
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			n, _ := nc.Read(buf)
			nc.Close()
			if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 "+tc.status) {
				t.Errorf("want %s, got %q", tc.status, buf[:n])
			}
		}
	})
}

func TestDialSubprotocolAndClientMessageMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}, Protocols: []string{"v2", "v1"}})
		ctx := ctx5(t)
		got := make(chan string, 4)
		closed := make(chan error, 1)
		s, resp, err := Dial(ctx, srv.URL, DialOptions{
			Engine:    eng,
			Protocols: []string{"v1", "v2"},
			Options: Options{MessageHandler: MessageFuncs{
				Message: func(s *Session, op frame.Opcode, p []byte) { got <- op.String() + ":" + string(p) },
				Close:   func(s *Session, err error) { closed <- err },
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Protocol != "v2" {
			t.Fatalf("protocol %q, want the server's preference v2", resp.Protocol)
		}
		// Fragmented on the way out, reassembled by both ends.
		s.Send(ctx, frame.Frame{Opcode: frame.OpText, Payload: []byte("to")})
		s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpContinuation, Payload: []byte("gether")})
		select {
		case m := <-got:
			if m != "text:together" {
				t.Fatalf("got %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no echo")
		}
		go s.CloseWith(context.Background(), frame.CloseReason{Code: frame.CloseNormal})
		select {
		case err := <-closed:
			if !IsNormalClosure(err) {
				t.Fatalf("client ended with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("close handshake did not finish")
		}
	})
}

// BenchmarkEchoRoundTrip measures one 64-byte message in flight between a
// Dial client (channel mode) and an UpgradeHTTP server (message mode) on
// the same engine.
func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, name := range poller.Backends() {
		b.Run(name, func(b *testing.B) {
			eng, err := poller.New(name, poller.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			t := &testing.T{}
			srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages}})
			ctx := context.Background()
			s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(errors.New("done"))
			msg := bytes.Repeat([]byte("x"), 64)
			b.ReportAllocs()
			for b.Loop() {
				s.SendBinary(ctx, msg)
				<-s.Incoming()
			}
		})
	}
}

// DialOptions.LocalAddr picks the source address: the server sees the
// connection come from 127.0.0.2 (all of 127.0.0.0/8 is loopback on Linux).
func TestDialFromLocalAddr(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		seen := make(chan string, 1)
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: MessageFuncs{
			Open: func(s *Session) { seen <- s.Conn().RemoteAddr().String() },
			Message: func(s *Session, op frame.Opcode, p []byte) {
				s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
			},
		}}})
		ctx := ctx5(t)
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, LocalAddr: local})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		if got := <-seen; !strings.HasPrefix(got, "127.0.0.2:") {
			t.Fatalf("server saw the client at %s, want 127.0.0.2", got)
		}
		if err := s.SendText(ctx, "from .2"); err != nil {
			t.Fatal(err)
		}
		if f := recvFrame(t, s); string(f.Payload) != "from .2" {
			t.Fatalf("echo %q", f.Payload)
		}
	})
}

// A program that imports only the root package gets the epoll loop on
// Linux and never cloudwego/netpoll, which is linked only by a program
// that imports poller/netpoll (this test binary does, for its tests).
func TestNetpollNotLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := string(out)
	if strings.Contains(deps, "netpoll") {
		t.Fatalf("the root package links netpoll:\n%s", deps)
	}
	if runtime.GOOS == "linux" && !strings.Contains(deps, "github.com/rawws/rawws/poller/epoll\n") {
		t.Fatal("the root package does not link its default backend, poller/epoll")
	}
}

// "" names the default backend, whose shared engine EngineFor keeps.
func TestEngineForDefault(t *testing.T) {
	e, err := EngineFor("")
	if err != nil {
		t.Fatal(err)
	}
	if want := rhttp.DefaultBackend; e.Name() != want {
		t.Fatalf("EngineFor(\"\") runs %q, want %q", e.Name(), want)
	}
	if again, _ := EngineFor(e.Name()); again != e {
		t.Fatal("the default engine is not the shared engine of its backend")
	}
}
