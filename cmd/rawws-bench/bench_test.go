package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// benchServer is the server the scenarios run against, with what it saw
// of its sessions: how many were open at once, and how each one ended.
type benchServer struct {
	url string

	mu       sync.Mutex
	upgrades int
	open     int
	peak     int                     // most sessions open at once
	closes   map[frame.CloseCode]int // sessions ended by the client's Close, by code
	unclosed map[string]int          // sessions ended without one, by cause
	ended    chan struct{}           // a session ended
}

func (b *benchServer) opened(*rawws.Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.upgrades++
	b.open++
	b.peak = max(b.peak, b.open)
}

func (b *benchServer) closed(_ *rawws.Session, err error) {
	b.mu.Lock()
	b.open--
	var ce *rawws.CloseError
	if errors.As(err, &ce) {
		b.closes[ce.Code]++
	} else {
		b.unclosed[fmt.Sprint(err)]++
	}
	b.mu.Unlock()
	select {
	case b.ended <- struct{}{}:
	default:
	}
}

// waitIdle waits up to 5 s for every session to have ended.
func (b *benchServer) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		b.mu.Lock()
		open := b.open
		b.mu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-b.ended:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d server sessions still open 5 s after the scenario returned", open)
		}
	}
}

// startServer runs an echo (every path), a /broadcast fan-out and a plain
// GET answer on 127.0.0.1, like rawws-echo does, and tracks its sessions.
func startServer(t *testing.T) *benchServer {
	t.Helper()
	b := &benchServer{closes: map[frame.CloseCode]int{}, unclosed: map[string]int{}, ended: make(chan struct{}, 1)}
	hub := rawws.NewHub(rawws.HubOptions{})
	module := func(app *server.App) {
		app.WebSocket("/broadcast", rawws.Options{MessageHandler: rawws.MessageFuncs{
			Open:    func(s *rawws.Session) { b.opened(s); hub.Subscribe("b", s) },
			Message: func(s *rawws.Session, op frame.Opcode, p []byte) { hub.Publish("b", op, p) },
			Close:   b.closed,
		}})
		app.Endpoint("/", server.Endpoint{
			Options: rawws.Options{MessageHandler: rawws.MessageFuncs{
				Open: b.opened,
				Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
					s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
				},
				Close: b.closed,
			}},
			NotUpgrade: rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) { w.WriteString("hello") }),
		})
	}
	srv, err := server.New(module, server.Config{Backend: "std"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b.url = "ws://" + ln.Addr().String() + "/"
	return b
}

// testConfig is a small, short run of scenario sc against url.
func testConfig(url, sc string) config {
	return config{url: url, scenario: sc, conns: 8, size: 64, inflight: 2, duration: 300 * time.Millisecond,
		warmup: 50 * time.Millisecond, ramp: 4, path: "/", pipeline: 2, settle: 100 * time.Millisecond,
		quiet: true, backend: "std", sources: 2}
}

func TestScenariosReport(t *testing.T) {
	url := startServer(t).url
	for _, sc := range []string{"echo", "broadcast", "http", "connect", "idle"} {
		t.Run(sc, func(t *testing.T) {
			c := testConfig(url, sc)
			if err := validate(&c); err != nil {
				t.Fatal(err)
			}
			r, err := run(c)
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Connected == 0 {
				t.Fatalf("%+v: errors or no connection", r)
			}
			if sc != "idle" && (r.Messages == 0 || r.P50us <= 0 || r.MaxUs < r.P50us) {
				t.Fatalf("%+v: no traffic measured", r)
			}
		})
	}
}

func TestValidateBounds(t *testing.T) {
	ok := config{url: "ws://127.0.0.1:1/", conns: 10, duration: time.Second, inflight: 1, pipeline: 1, sources: 1}
	for name, mut := range map[string]func(*config){
		"conns":    func(c *config) { c.conns = 0 },
		"duration": func(c *config) { c.duration = time.Hour },
		"inflight": func(c *config) { c.inflight = 5000 },
		"sources":  func(c *config) { c.sources = 300 },
		"remote":   func(c *config) { c.url = "ws://example.com/"; c.sources = 2 },
		"url":      func(c *config) { c.url = "::" },
	} {
		c := ok
		mut(&c)
		if err := validate(&c); err == nil {
			t.Errorf("%s: out-of-range config accepted", name)
		}
	}
	if err := validate(&ok); err != nil {
		t.Fatal(err)
	}
}

func TestContentLength(t *testing.T) {
	for head, want := range map[string]int{
		"HTTP/1.1 200 OK\r\ncontent-length: 13":         13,
		"HTTP/1.1 200 OK\r\nContent-Length:  0 ":        0,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked": -1,
		"HTTP/1.1 200 OK\r\nContent-Length: -4":         -1,
	} {
		n, ok := contentLength([]byte(head))
		if (want < 0 && ok) || (want >= 0 && (!ok || n != want)) {
			t.Errorf("%q: %d, %v; want %d", head, n, ok, want)
		}
	}
}

func TestBarClamps(t *testing.T) {
	for _, c := range [][2]int{{0, 10}, {5, 10}, {10, 10}, {15, 10}, {-1, 10}, {3, 0}} {
		if b := bar(c[0], c[1]); len(b) != 32 {
			t.Errorf("bar(%d, %d) = %q", c[0], c[1], b)
		}
	}
}

// TestSourcesFor: without -source-addrs, a loopback run gets as many
// source addresses as its connections need ports, and a remote one one.
func TestSourcesFor(t *testing.T) {
	for _, tc := range []struct {
		conns, ports int
		loopback     bool
		want         int
	}{
		{1000, 28232, true, 1},
		{22585, 28232, true, 1},  // 80% of the range
		{22586, 28232, true, 2},  // one past it
		{100000, 28232, true, 5}, // 22,585 per address
		{1000000, 1000, true, 254},
		{100000, 28232, false, 1}, // other addresses are not ours to use
		{100000, 0, true, 1},      // range unknown
	} {
		if got := sourcesFor(tc.conns, tc.ports, tc.loopback); got != tc.want {
			t.Errorf("sourcesFor(%d, %d, %v) = %d, want %d", tc.conns, tc.ports, tc.loopback, got, tc.want)
		}
	}
	c := config{url: "ws://127.0.0.1:1/", conns: 10, duration: time.Second, inflight: 1, pipeline: 1}
	if err := validate(&c); err != nil || c.sources != 1 {
		t.Errorf("validate with -source-addrs 0: sources %d, %v; want 1, nil", c.sources, err)
	}
}
