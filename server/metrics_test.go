package server_test

import (
	"encoding/json"
	"errors"
	"expvar"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// rawFrame encodes a client frame without a mask (a protocol error from a
// client).
func unmaskedFrame(op frame.Opcode, payload []byte) []byte {
	b := frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: op, Length: int64(len(payload))})
	return append(b, payload...)
}

// The server counts sessions by how they ended and protocol errors by the
// close code it sent; Stats and expvar publish the same numbers.
func TestMetricsCloseReasons(t *testing.T) {
	srv, err := server.New(func(a *server.App) {
		a.WebSocket("/", rawws.Options{MessageHandler: echoMessages, MaxMessageSize: 64})
	}, server.Config{Backend: "std"})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLocal(t)
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	cases := []struct {
		name     string
		send     []byte
		wantCode frame.CloseCode // the server's close code
	}{
		{"normal", clientFrame(frame.OpClose, closePayload(frame.CloseNormal)), frame.CloseNormal},
		{"peer error", clientFrame(frame.OpClose, closePayload(4000)), 4000},
		{"bad utf-8", clientFrame(frame.OpText, []byte{0xff, 0xfe}), frame.CloseInvalidPayload},
		{"unmasked", unmaskedFrame(frame.OpText, []byte("x")), frame.CloseProtocolError},
		{"too big", clientFrame(frame.OpBinary, make([]byte, 100)), frame.CloseTooBig},
	}
	for _, tc := range cases {
		c := dialWS(t, addr, "/", nil)
		c.c.Write(tc.send)
		op, p, err := c.read(5 * time.Second)
		if err != nil || op != frame.OpClose {
			t.Fatalf("%s: %v %q %v, want close", tc.name, op, p, err)
		}
		if r, _ := frame.ParseCloseReason(p); r.Code != tc.wantCode {
			t.Fatalf("%s: close %d, want %d", tc.name, r.Code, tc.wantCode)
		}
		c.expectEOF(t)
	}
	// A refused handshake.
	status, _ := httpGet(t, addr, "/", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	if !strings.Contains(status, " 426 ") {
		t.Fatalf("version 12: %q", status)
	}
	if !settle(5*time.Second, func() bool { return srv.Group().Len() == 0 }) {
		t.Fatalf("%d sessions still registered", srv.Group().Len())
	}
	m := srv.Metrics()
	want := rawws.CloseCounts{Normal: 1, PeerError: 1, Protocol: 3}
	if m.Closed != want {
		t.Errorf("closed %+v, want %+v", m.Closed, want)
	}
	for code, n := range map[frame.CloseCode]uint64{1002: 1, 1007: 1, 1009: 1} {
		if m.ProtocolErrors[code] != n {
			t.Errorf("protocol errors %v, want %d for %d", m.ProtocolErrors, n, code)
		}
	}
	if m.Accepted != 5 || m.HandshakeFailures != 1 || m.Requests != 6 || m.Open != 0 {
		t.Errorf("accepted %d, failures %d, requests %d, open %d; want 5, 1, 6, 0", m.Accepted, m.HandshakeFailures, m.Requests, m.Open)
	}

	// The process-wide view includes this server.
	st := server.Stats()
	if st.Accepted < m.Accepted || st.Closed.Protocol < 3 {
		t.Errorf("Stats %+v does not include the server's %+v", st, m)
	}
	v := expvar.Get(server.ExpvarName)
	if v == nil {
		t.Fatal("expvar has no " + server.ExpvarName)
	}
	var pub struct {
		Accepted uint64
		Closed   rawws.CloseCounts
	}
	if err := json.Unmarshal([]byte(v.String()), &pub); err != nil {
		t.Fatalf("expvar JSON %q: %v", v.String(), err)
	}
	if pub.Accepted < m.Accepted {
		t.Errorf("expvar accepted %d < %d", pub.Accepted, m.Accepted)
	}
}

// Shutdown's deadline ends sessions that do not answer, counted as
// timeouts, and Shutdown reports the deadline.
func TestShutdownDeadline(t *testing.T) {
	srv, err := server.New(func(a *server.App) { a.WebSocket("/", rawws.Options{MessageHandler: echoMessages}) },
		server.Config{Backend: "epoll"})
	if err != nil {
		t.Skip(err)
	}
	ln := listenLocal(t)
	go srv.Serve(ln)
	c := dialWS(t, ln.Addr().String(), "/", nil)
	defer c.c.Close()
	settle(time.Second, func() bool { return srv.Group().Len() == 1 })
	ctx, cancel := contextWithTimeout(200 * time.Millisecond)
	defer cancel()
	start := time.Now()
	err = srv.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v past a 200ms deadline", d)
	}
	op, _, rerr := c.read(time.Second) // the 1001 was sent, then the connection closed
	if rerr != nil || op != frame.OpClose {
		t.Errorf("client got %v %v, want the close frame", op, rerr)
	}
	if m := srv.Metrics(); m.Closed.Timeout != 1 || m.Open != 0 {
		t.Errorf("closed %+v open %d, want one timeout", m.Closed, m.Open)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// Frames and bytes are counted in both directions, live sessions included;
// a peer that does not read fills the outgoing queue, and the frames it
// refuses are counted as drops.
func TestMetricsFramesBytesQueue(t *testing.T) {
	flood := make(chan *rawws.Session, 1)
	srv, err := server.New(func(a *server.App) {
		a.WebSocket("/echo", rawws.Options{MessageHandler: echoMessages})
		a.WebSocket("/flood", rawws.Options{
			OutgoingFrames: 2, OutgoingBytes: 1 << 20,
			Handler: rawws.HandlerFuncs{Open: func(s *rawws.Session) { flood <- s }},
		})
	}, server.Config{Backend: "epoll"})
	if err != nil {
		t.Skip(err)
	}
	ln := listenLocal(t)
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	c := dialWS(t, addr, "/echo", nil)
	defer c.c.Close()
	for range 3 {
		c.send(t, frame.OpText, []byte("12345")) // 2+4 header bytes + 5
		c.expect(t, frame.OpText, "12345")       // 2 header bytes + 5
	}
	// The counters are bumped right after the bytes go out or are parsed,
	// so the client may see an echo a moment before it is counted.
	var m server.Metrics
	settle(2*time.Second, func() bool {
		m = srv.Metrics()
		return m.FramesIn == 3 && m.BytesIn == 3*11 && m.FramesOut == 3 && m.BytesOut == 3*7
	})
	if m.FramesIn != 3 || m.BytesIn != 3*11 || m.FramesOut != 3 || m.BytesOut != 3*7 {
		t.Errorf("frames in %d out %d, bytes in %d out %d; want 3, 3, 33, 21", m.FramesIn, m.FramesOut, m.BytesIn, m.BytesOut)
	}
	if m.QueueHighWater < 1 {
		t.Errorf("queue high water %d", m.QueueHighWater)
	}

	// The flood client never reads: the socket and the connection's queue
	// (up to OutgoingBytes) fill, then the session's queue (2 frames), then
	// sends are refused.
	f := dialWS(t, addr, "/flood", nil)
	defer f.c.Close()
	s := <-flood
	payload := make([]byte, 64<<10)
	refused := 0
	for i := 0; i < 2000 && refused == 0; i++ {
		if err := s.Send(bgctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: payload}); err != nil {
			if !errors.Is(err, rawws.ErrQueueFull) {
				t.Fatalf("send %d: %v", i, err)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("the queue never filled")
	}
	m = srv.Metrics()
	if m.QueueHighWater != 2 || m.Drops < 1 {
		t.Errorf("queue high water %d, drops %d; want 2 and at least 1", m.QueueHighWater, m.Drops)
	}
}
