package rawws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/internal/deflate"
	"github.com/rawws/rawws/poller"
)

// jsonText is n bytes of JSON-like text that compresses well.
func jsonText(seed, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"u%d","price":%d.%02d},`, seed*1000+i, (seed+i)%37, i%997, i%100)
	}
	return b.Bytes()[:n]
}

type gotMsg struct {
	op frame.Opcode
	p  []byte
}

// collect is a message handler that hands copies of messages to a channel.
func collect(ch chan gotMsg) MessageFuncs {
	return MessageFuncs{Message: func(s *Session, op frame.Opcode, p []byte) {
		ch <- gotMsg{op, bytes.Clone(p)}
	}}
}

func TestCompressionRoundTrip(t *testing.T) {
	combos := []struct {
		name           string
		server, client Compression
		wantExt        string
	}{
		{"takeover both ways", Compression{}, Compression{}, "permessage-deflate"},
		{"no takeover", Compression{ServerNoContextTakeover: true}, Compression{ClientNoContextTakeover: true},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"small windows", Compression{ClientMaxWindowBits: 9}, Compression{ServerMaxWindowBits: 10, ClientMaxWindowBits: 15, Level: 9},
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"},
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		for _, cb := range combos {
			t.Run(cb.name, func(t *testing.T) {
				srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, Compression: &cb.server}})
				ch := make(chan gotMsg, 64)
				ctx := ctx5(t)
				s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{MessageHandler: collect(ch), Compression: &cb.client}})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close(errors.New("test over"))
				if s.Extensions() != cb.wantExt {
					t.Fatalf("negotiated %q, want %q", s.Extensions(), cb.wantExt)
				}
				sizes := []int{0, 5, 200, 1000, 5000, 40 << 10, 300 << 10}
				for i, n := range sizes {
					for _, op := range []frame.Opcode{frame.OpText, frame.OpBinary} {
						want := jsonText(i, n)
						if err := s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: op, Payload: want}); err != nil {
							t.Fatal(err)
						}
						select {
						case got := <-ch:
							if got.op != op || !bytes.Equal(got.p, want) {
								t.Fatalf("%v %d B: got %v %d B", op, n, got.op, len(got.p))
							}
						case <-time.After(5 * time.Second):
							t.Fatalf("%v %d B: no echo (%v)", op, n, s.Err())
						}
					}
				}
			})
		}
	})
}

// TestCompressionOnTheWire checks what goes on the wire with a raw
// (channel-mode) client, which negotiates but neither compresses nor
// inflates: the server's echoes of compressible messages carry RSV1 and
// inflate to the message, while small ones go out plain.
func TestCompressionOnTheWire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, Compression: &Compression{}}})
		ctx := ctx5(t)
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{Compression: &Compression{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		p, ok, err := deflate.ParseResponse(s.Extensions(), deflate.Settings{})
		if err != nil || !ok {
			t.Fatalf("extensions %q: %v", s.Extensions(), err)
		}
		inflate := deflate.NewDecompressor(p, false, 1<<20)
		comp := deflate.NewCompressor(deflate.Settings{}, p, false)
		for i, n := range []int{10, 4000, 4000, 64 << 10} {
			want := jsonText(i, n)
			// Every other message is sent compressed by hand.
			f := frame.Frame{Fin: true, Opcode: frame.OpText, Payload: want}
			if i%2 == 1 {
				z, ok, err := comp.Compress(nil, want)
				if err != nil || !ok {
					t.Fatal(ok, err)
				}
				f.Payload, f.Rsv1 = z, true
			}
			if err := s.Send(ctx, f); err != nil {
				t.Fatal(err)
			}
			got := recvFrame(t, s)
			if got.Rsv1 != (n >= deflate.DefaultThreshold) {
				t.Fatalf("%d B: echo Rsv1=%v", n, got.Rsv1)
			}
			body := got.Payload
			if got.Rsv1 {
				if len(body) >= n/2 {
					t.Fatalf("%d B JSON compressed only to %d B", n, len(body))
				}
				if body, err = inflate.AppendDecompress(nil, got.Payload); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, want) {
				t.Fatalf("%d B: echo differs", n)
			}
		}
	})
}

// TestCompressionFailures: a negotiated peer breaking the extension's
// rules is answered with the right close code.
func TestCompressionFailures(t *testing.T) {
	zeros := func() []byte {
		c := deflate.NewCompressor(deflate.Settings{Level: 9, Threshold: -1}, deflate.Params{ClientNoContextTakeover: true}, false)
		z, _, _ := c.Compress(nil, make([]byte, 4<<20))
		return z
	}
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	tests := []struct {
		name   string
		frames []frame.Frame
		code   frame.CloseCode
		err    error
	}{
		{"inflates past MaxMessageSize", []frame.Frame{{Fin: true, Rsv1: true, Opcode: frame.OpBinary, Payload: zeros()}}, frame.CloseTooBig, ErrMessageTooBig},
		{"RSV1 on a continuation", []frame.Frame{{Rsv1: true, Opcode: frame.OpText, Payload: hello[:3]}, {Fin: true, Rsv1: true, Opcode: frame.OpContinuation, Payload: hello[3:]}},
			frame.CloseProtocolError, errRsv1},
		{"RSV1 on a ping", []frame.Frame{{Fin: true, Rsv1: true, Opcode: frame.OpPing, Payload: hello}}, frame.CloseProtocolError, errRsv1},
		{"not DEFLATE data", []frame.Frame{{Fin: true, Rsv1: true, Opcode: frame.OpBinary, Payload: []byte{0xff, 0xff, 0xff}}}, frame.CloseInvalidPayload, errBadCompressed},
		{"inflates to invalid UTF-8", []frame.Frame{{Fin: true, Rsv1: true, Opcode: frame.OpText, Payload: []byte{0x00, 0x02, 0x00, 0xfd, 0xff, 0xc3, 0x28, 0x00}}},
			frame.CloseInvalidPayload, errBadUTF8},
		{"RSV2", []frame.Frame{{Fin: true, Rsv2: true, Opcode: frame.OpText, Payload: []byte("x")}}, frame.CloseProtocolError, nil},
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, MaxMessageSize: 1 << 20, Compression: &Compression{}}})
				ctx := ctx5(t)
				// The client may send RSV2: Send refuses bits no extension
				// allows, and this peer is breaking the rules on purpose.
				s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{Compression: &Compression{}, AllowedRsv: 0x20}})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close(errors.New("test over"))
				server := srv.next(t)
				for _, f := range tt.frames {
					if err := s.Send(ctx, f); err != nil {
						t.Fatal(err)
					}
				}
				var got frame.Frame
				for i := 0; i < 10; i++ {
					if got = recvFrame(t, s); got.Opcode == frame.OpClose {
						break
					}
				}
				r, err := frame.ParseCloseReason(got.Payload)
				if got.Opcode != frame.OpClose || err != nil || r.Code != tt.code {
					t.Fatalf("got %v %q, want close %d", got.Opcode, got.Payload, tt.code)
				}
				waitDone(t, server)
				if tt.err != nil && !errors.Is(server.Err(), tt.err) {
					t.Fatalf("server Err %v, want %v", server.Err(), tt.err)
				}
			})
		}
	})
}

// TestDialRejectsBadExtensionAnswer: a server answer the offer does not
// allow fails the handshake (RFC 7692 §5); without an offer any answer
// does.
func TestDialRejectsBadExtensionAnswer(t *testing.T) {
	tests := []struct {
		comp   *Compression
		answer string
		ok     bool
	}{
		{&Compression{}, "permessage-deflate", true},
		{&Compression{}, "", true},
		{&Compression{}, "permessage-deflate; client_max_window_bits=10", false},
		{&Compression{ClientMaxWindowBits: 15}, "permessage-deflate; client_max_window_bits=10", true},
		{&Compression{ServerNoContextTakeover: true}, "permessage-deflate", false},
		{&Compression{}, "x-webkit-deflate-frame", false},
		{nil, "permessage-deflate", false},
	}
	for _, tt := range tests {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 4096)
			n, _ := c.Read(buf)
			req := string(buf[:n])
			i := strings.Index(req, "Sec-WebSocket-Key: ")
			key := strings.TrimSpace(req[i+19 : i+19+strings.Index(req[i+19:], "\r\n")])
			head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				string(rhttp.AppendAcceptKey(nil, key)) + "\r\n"
			if tt.answer != "" {
				head += "Sec-WebSocket-Extensions: " + tt.answer + "\r\n"
			}
			c.Write([]byte(head + "\r\n"))
			time.Sleep(200 * time.Millisecond)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, _, err := Dial(ctx, "ws://"+ln.Addr().String()+"/", DialOptions{Options: Options{Compression: tt.comp}})
		cancel()
		ln.Close()
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrHandshake)) {
			t.Errorf("offer %+v, answer %q: %v", tt.comp, tt.answer, err)
		}
		if s != nil {
			s.Close(errors.New("test over"))
		}
	}
}

// TestCompressionConcurrentSenders: senders on several goroutines share one
// context-takeover compressor; every message must inflate on the peer, so
// the compression order must be the wire order.
func TestCompressionConcurrentSenders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, Compression: &Compression{}}})
		ch := make(chan gotMsg, 256)
		ctx := ctx5(t)
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{MessageHandler: collect(ch), Compression: &Compression{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		const senders, each = 4, 40
		want := map[string]bool{}
		for g := range senders {
			for i := range each {
				want[fmt.Sprintf("%d/%d:", g, i)] = true
			}
		}
		errs := make(chan error, senders)
		for g := range senders {
			go func() {
				for i := range each {
					m := append([]byte(fmt.Sprintf("%d/%d:", g, i)), jsonText(g*each+i, 500+(i*397)%6000)...)
					if err := s.SendBinary(ctx, m); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range senders {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for range senders * each {
			select {
			case got := <-ch:
				prefix, _, _ := bytes.Cut(got.p, []byte(":"))
				if !want[string(prefix)+":"] {
					t.Fatalf("unexpected or repeated echo %q", prefix)
				}
				delete(want, string(prefix)+":")
			case <-time.After(5 * time.Second):
				t.Fatalf("%d echoes missing (%v)", len(want), s.Err())
			}
		}
	})
}
