package soak

import (
	"context"
	"errors"
	"net"
	nethttp "net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// Front is the HTTP server that performs the upgrade before the engine
// takes the connection.
type Front uint8

const (
	// FrontNetHTTP upgrades with net/http and rawws.UpgradeHTTP, as
	// cmd/rawws-echo does.
	FrontNetHTTP Front = iota
	// FrontNative upgrades with the module's own HTTP server
	// (http.NewServer and http.UpgradeWebSocket) on the same engine.
	FrontNative
)

func (f Front) String() string {
	if f == FrontNative {
		return "native"
	}
	return "net/http"
}

// EchoConfig describes an in-process echo server.
type EchoConfig struct {
	// Backend names the poller backend (see poller.Backends).
	Backend string
	// Front selects the HTTP server doing the upgrade.
	Front Front
	// Engine configures the engine (MaxInput, MaxOutput, Tick).
	Engine poller.Config
	// Session is the base of every session's options; its MessageHandler
	// is replaced by the echo.
	Session rawws.Options
	// Backpressure makes the echo hold a message the session refused with
	// ErrQueueFull, pause reading and resend once the queue drained, so a
	// slow reader loses nothing. Without it the echo is cmd/rawws-echo's:
	// SendCopy's error is ignored (and counted in Refused).
	Backpressure bool
	// Copies, when above 1, echoes every message that many times (without
	// Backpressure): one message then needs several sends at once, which is
	// how an application reaches the outgoing queue's cap.
	Copies int
	// PingPeriod and PingTimeout, when set, run rawws.Pinger on every
	// session.
	PingPeriod, PingTimeout time.Duration
	// HTTP configures the native front (its Engine field is ignored).
	HTTP rhttp.Settings
}

// EchoServer is a running echo server: every path echoes whole messages
// (message mode) with their opcode.
type EchoServer struct {
	// Addr is "127.0.0.1:port".
	Addr   string
	Engine poller.Engine
	// Refused counts echoes the session refused (lost unless
	// Backpressure).
	Refused atomic.Int64
	// Ended receives each session's end cause (Session.Err in OnClose);
	// it holds 4096 values, later ones are dropped.
	Ended chan error
	// Native is the native HTTP server (FrontNative only).
	Native *rhttp.Server

	cfg      EchoConfig
	live     sync.WaitGroup
	sessions sync.Map // *rawws.Session -> struct{}, while open
}

// Sessions returns the server's open sessions.
func (e *EchoServer) Sessions() []*rawws.Session {
	var out []*rawws.Session
	e.sessions.Range(func(k, _ any) bool {
		out = append(out, k.(*rawws.Session))
		return true
	})
	return out
}

// StartEcho starts an echo server on 127.0.0.1:0 and registers its
// shutdown (listener, HTTP server, engine) with t.Cleanup.
func StartEcho(t testing.TB, cfg EchoConfig) *EchoServer {
	t.Helper()
	eng, err := poller.New(cfg.Backend, cfg.Engine)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	e := &EchoServer{Addr: ln.Addr().String(), Engine: eng, Ended: make(chan error, 4096), cfg: cfg}
	served := make(chan struct{})
	switch cfg.Front {
	case FrontNative:
		set := cfg.HTTP
		set.Engine = eng
		e.Native = rhttp.NewServer(set, rhttp.HandlerFunc(e.serveNative))
		go func() { defer close(served); e.Native.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			e.Native.Shutdown(ctx)
			cancel()
			eng.Close()
			waitServed(t, served)
		})
	default:
		hs := &nethttp.Server{Handler: nethttp.HandlerFunc(e.serveNetHTTP)}
		go func() { defer close(served); hs.Serve(ln) }()
		t.Cleanup(func() {
			hs.Close()
			waitServed(t, served)
			eng.Close()
		})
	}
	return e
}

// Options returns the session options the echo uses for one new session.
func (e *EchoServer) Options() rawws.Options {
	o := e.cfg.Session
	o.Handler = nil
	o.MessageHandler = &echoHandler{srv: e}
	return o
}

func (e *EchoServer) serveNetHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: e.Options(), Engine: e.Engine, CheckOrigin: func(string) bool { return true }})
}

func (e *EchoServer) serveNative(w *rhttp.ResponseWriter, r *rhttp.Request) {
	if !rhttp.IsWebSocketUpgrade(r.Header.Join) {
		w.WriteString("ok\n")
		return
	}
	c, err := rhttp.UpgradeWebSocket(w, r, nil, func(string) bool { return true },
		func(string) poller.Handler { return holdHandler{} })
	if err != nil {
		return
	}
	rawws.NewRawSession(c, e.Options())
}

// holdHandler keeps a freshly hijacked connection's bytes until the
// session replaces it (SetHandler offers them again).
type holdHandler struct{}

func (holdHandler) OnOpen(poller.Conn)             {}
func (holdHandler) OnData(poller.Conn, []byte) int { return 0 }
func (holdHandler) OnClose(poller.Conn, error)     {}

// echoHandler is one session's echo; with backpressure it holds refused
// messages in order until the session's queue drains.
type echoHandler struct {
	srv *EchoServer

	mu       sync.Mutex
	pending  []held
	draining bool
}

type held struct {
	op frame.Opcode
	p  []byte
}

func (h *echoHandler) OnOpen(s *rawws.Session) {
	h.srv.sessions.Store(s, struct{}{})
	if cfg := h.srv.cfg; cfg.PingPeriod > 0 {
		rawws.Pinger(s, cfg.PingPeriod, cfg.PingTimeout)
	}
}

func (h *echoHandler) OnMessage(s *rawws.Session, op frame.Opcode, p []byte) {
	if !h.srv.cfg.Backpressure {
		for i := 0; i < max(h.srv.cfg.Copies, 1); i++ {
			if err := s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p}); err != nil {
				h.srv.Refused.Add(1)
			}
		}
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		h.pending = append(h.pending, held{op, append([]byte(nil), p...)})
		return
	}
	err := s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
	if errors.Is(err, rawws.ErrQueueFull) {
		h.srv.Refused.Add(1)
		h.pending = append(h.pending, held{op, append([]byte(nil), p...)})
		h.draining = true
		s.Conn().PauseRead()
		h.srv.live.Add(1)
		go h.drain(s)
	}
}

// drain waits for the session's queue to be written, resends the held
// messages in order, and resumes reading once none is left.
func (h *echoHandler) drain(s *rawws.Session) {
	defer h.srv.live.Done()
	for {
		// Flush returns nil once the session is closed, so this ends with it.
		s.Flush(context.Background())
		h.mu.Lock()
		for len(h.pending) > 0 {
			m := h.pending[0]
			err := s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: m.op, Payload: m.p})
			if errors.Is(err, rawws.ErrQueueFull) {
				break
			}
			if err != nil { // the session is closing: nobody reads the rest
				h.pending = nil
				break
			}
			h.pending[0] = held{}
			h.pending = h.pending[1:]
		}
		if len(h.pending) == 0 {
			h.pending = nil
			h.draining = false
			h.mu.Unlock()
			s.Conn().ResumeRead()
			return
		}
		h.mu.Unlock()
		select {
		case <-s.Done():
			return
		default:
		}
	}
}

func (h *echoHandler) OnClose(s *rawws.Session, err error) {
	h.srv.sessions.Delete(s)
	select {
	case h.srv.Ended <- err:
	default:
	}
}

// WaitEnded waits up to timeout for the next session end and returns its
// cause; ok is false on timeout.
func (e *EchoServer) WaitEnded(timeout time.Duration) (err error, ok bool) {
	select {
	case err = <-e.Ended:
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// waitServed waits for the server goroutine to return after its listener
// was closed; a Serve that does not return is reported, not waited for.
func waitServed(t testing.TB, served <-chan struct{}) {
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Errorf("Serve did not return within 5s of its listener being closed")
	}
}
