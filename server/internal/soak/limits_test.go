package soak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/http/body"
	"github.com/rawws/rawws/poller"
)

// overLimit: a peer one byte over a session limit gets the documented close
// code and the session the documented error, while a second connection on
// the same server echoes before, during and after.
func TestLimitSessionOverByOne(t *testing.T) {
	const limit = 1000
	cases := []struct {
		name  string
		opts  rawws.Options
		send  func(c *RawClient) error
		code  frame.CloseCode
		errIs error
	}{
		{
			name: "frame size 1009",
			opts: rawws.Options{MaxFrameSize: limit},
			send: func(c *RawClient) error {
				return c.WriteFrame(true, frame.OpBinary, make([]byte, limit+1))
			},
			code: frame.CloseTooBig, errIs: rawws.ErrFrameTooBig,
		},
		{
			name: "message size 1009",
			opts: rawws.Options{MaxMessageSize: limit},
			send: func(c *RawClient) error {
				if err := c.WriteFrame(false, frame.OpBinary, make([]byte, limit/2)); err != nil {
					return err
				}
				return c.WriteFrame(true, frame.OpContinuation, make([]byte, limit/2+1))
			},
			code: frame.CloseTooBig, errIs: rawws.ErrMessageTooBig,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				CheckLeaks(t)
				srv := StartEcho(t, EchoConfig{Backend: backend, Session: tc.opts})
				good, err := DialRaw(srv.Addr, "/", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer good.Close()
				if err := good.Echo(make([]byte, limit), 5*time.Second); err != nil {
					t.Fatalf("at the limit: %v", err)
				}
				bad, err := DialRaw(srv.Addr, "/", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer bad.Close()
				if err := tc.send(bad); err != nil {
					t.Fatal(err)
				}
				f, err := bad.ReadUntilClose(5 * time.Second)
				if err != nil {
					t.Fatalf("one over the limit: no Close frame: %v", err)
				}
				if f.CloseCode() != tc.code {
					t.Fatalf("one over the limit: Close %d, want %d", f.CloseCode(), tc.code)
				}
				bad.Close()
				if err := wantEnded(t, srv); !errors.Is(err, tc.errIs) {
					t.Fatalf("session ended with %v, want %v", err, tc.errIs)
				}
				if err := good.Echo(make([]byte, limit), 5*time.Second); err != nil {
					t.Fatalf("the other connection after the limit hit: %v", err)
				}
			})
		})
	}
}

// The outgoing queue: a peer that sends but never reads fills the queue;
// under QueueFullClose the session closes with 1008 and ErrQueueFull, under
// QueueFullError the refusal is reported to the echo (never silent) and
// the session goes on. Another connection keeps echoing meanwhile.
func TestLimitOutgoingQueue(t *testing.T) {
	for _, policy := range []rawws.QueueFullPolicy{rawws.QueueFullClose, rawws.QueueFullError} {
		name := map[rawws.QueueFullPolicy]string{rawws.QueueFullClose: "close 1008", rawws.QueueFullError: "error"}[policy]
		t.Run(name, func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				CheckLeaks(t)
				// The session stops reading a peer that does not read its
				// answers, so only an application sending several frames per
				// message reaches the cap: the echo answers 16 times.
				// netpoll keeps reading while the session is paused: give it
				// room so the queue's cap, not the engine's input cap, is what
				// this test reaches first.
				srv := StartEcho(t, EchoConfig{Backend: backend, Copies: 16, Engine: poller.Config{MaxInput: 256 << 20},
					Session: rawws.Options{OutgoingFrames: 2, OutgoingBytes: 64 << 10, QueueFull: policy}})
				good, err := DialRaw(srv.Addr, "/", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer good.Close()
				bad, err := DialRaw(srv.Addr, "/", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer bad.Close()
				bad.Conn.(*net.TCPConn).SetReadBuffer(16 << 10)
				// One message's 16 answers (16 MiB) outgrow any socket send
				// buffer (tcp_wmem caps it at 4 MiB by default), so the queue
				// overflows within the first message. With 32 KiB answers it
				// could happen that the socket filled at the 15th of a
				// message's answers: the queue then held one frame, the
				// session paused reading the peer (as it should) and no echo
				// was ever refused.
				msg := make([]byte, 1<<20)
				// Until the server refuses an echo; bounded in count and time.
				bad.Conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
				for i := 0; i < 200 && srv.Refused.Load() == 0; i++ {
					if err := bad.WriteFrame(true, frame.OpBinary, msg); err != nil {
						break // the server closed (QueueFullClose) and reset us
					}
					if i%50 == 0 {
						if err := echoCopies(good, []byte("during"), 16); err != nil {
							t.Fatalf("the other connection while the queue fills: %v", err)
						}
					}
				}
				// The refusal is counted when the echo's send returns, which
				// can be after the peer already saw the close it caused.
				for end := time.Now().Add(5 * time.Second); srv.Refused.Load() == 0 && time.Now().Before(end); {
					time.Sleep(10 * time.Millisecond)
				}
				if srv.Refused.Load() == 0 {
					t.Fatal("sent without reading until the write blocked, and the session never refused an echo")
				}
				switch policy {
				case rawws.QueueFullClose:
					f, err := bad.ReadUntilClose(20 * time.Second)
					if err != nil {
						t.Fatalf("no Close after the queue filled: %v", err)
					}
					if f.CloseCode() != frame.ClosePolicyViolation {
						t.Fatalf("Close %d, want 1008", f.CloseCode())
					}
					bad.Close()
					if err := wantEnded(t, srv); !errors.Is(err, rawws.ErrQueueFull) {
						t.Fatalf("session ended with %v, want ErrQueueFull", err)
					}
				case rawws.QueueFullError:
					// The session lives on: once the peer reads, it echoes again.
					bad.Conn.SetDeadline(time.Now().Add(20 * time.Second))
					drained := make(chan error, 1)
					go func() {
						buf := make([]byte, 64<<10)
						for {
							f, err := bad.ReadFrame(buf)
							if err != nil {
								drained <- err
								return
							}
							if f.Opcode == frame.OpBinary && string(f.Payload) == "after" {
								drained <- nil
								return
							}
						}
					}()
					if err := bad.WriteFrame(true, frame.OpBinary, []byte("after")); err != nil {
						t.Fatal(err)
					}
					// The echo of "after" itself may be refused while the
					// backlog drains: ask again until it comes (bounded).
					for i := 0; i < 50; i++ {
						select {
						case err := <-drained:
							if err != nil {
								t.Fatalf("the refusing session did not go on: %v", err)
							}
							i = 50
						case <-time.After(100 * time.Millisecond):
							bad.WriteFrame(true, frame.OpBinary, []byte("after"))
						}
					}
					select {
					case err := <-srv.Ended:
						t.Fatalf("session ended under QueueFullError: %v", err)
					default:
					}
				}
				if err := echoCopies(good, []byte("after"), 16); err != nil {
					t.Fatalf("the other connection after the limit hit: %v", err)
				}
			})
		})
	}
}

// echoCopies writes payload once and reads its n echoes back.
func echoCopies(c *RawClient, payload []byte, n int) error {
	c.Conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.Conn.SetDeadline(time.Time{})
	if err := c.WriteFrame(true, frame.OpBinary, payload); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		f, err := c.ReadFrame(nil)
		if err != nil {
			return fmt.Errorf("copy %d of %d: %w", i+1, n, err)
		}
		if f.Opcode != frame.OpBinary || !bytes.Equal(f.Payload, payload) {
			return fmt.Errorf("copy %d of %d: %v frame of %d bytes", i+1, n, f.Opcode, len(f.Payload))
		}
	}
	return nil
}

// rawEngineServer runs h on a fresh engine with cfg and returns its
// address.
func rawEngineServer(t *testing.T, backend string, cfg poller.Config, h poller.Handler) string {
	t.Helper()
	eng, err := poller.New(backend, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); eng.Serve(ln, h) }()
	t.Cleanup(func() {
		ln.Close()
		eng.Close()
		waitServed(t, done)
	})
	return ln.Addr().String()
}

// limitHandler echoes bytes, except on a connection whose first byte is
// 's' (never consumes: input piles up) or 'w' (writes without end from a
// goroutine until the engine refuses).
type limitHandler struct {
	closed chan error
	wrote  chan error
	wg     sync.WaitGroup
}

func (h *limitHandler) OnOpen(poller.Conn) {}

func (h *limitHandler) OnData(c poller.Conn, b []byte) int {
	switch c.Context() {
	case "s":
		return 0
	case "w":
		return len(b)
	case "e":
		c.Write(b)
		return len(b)
	}
	switch b[0] {
	case 's':
		c.SetContext("s")
		return 0
	case 'w':
		c.SetContext("w")
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			chunk := make([]byte, 64<<10)
			var err error
			for i := 0; i < 4096 && err == nil; i++ {
				_, err = c.Write(chunk)
			}
			h.wrote <- err
		}()
		return len(b)
	}
	c.SetContext("e")
	c.Write(b)
	return len(b)
}

func (h *limitHandler) OnClose(c poller.Conn, err error) {
	if c.Context() != "e" {
		h.closed <- err
	}
}

func echoBytes(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo %q: got %q, %v", msg, got, err)
	}
}

// Poller limits: input a handler never consumes beyond MaxInput ends that
// connection with ErrInputLimit; a write beyond MaxOutput is refused with
// ErrOutputLimit. Another connection on the engine echoes meanwhile.
func TestLimitPoller(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		h := &limitHandler{closed: make(chan error, 4), wrote: make(chan error, 1)}
		addr := rawEngineServer(t, backend, poller.Config{MaxInput: 64 << 10, MaxOutput: 256 << 10}, h)
		defer h.wg.Wait()
		good, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer good.Close()
		echoBytes(t, good, "e-before")

		t.Run("MaxInput", func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(append([]byte{'s'}, make([]byte, 256<<10)...))
			select {
			case err := <-h.closed:
				if !errors.Is(err, poller.ErrInputLimit) {
					t.Fatalf("OnClose(%v), want ErrInputLimit", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("256 KiB never consumed with MaxInput 64 KiB: connection still open after 10s")
			}
			echoBytes(t, good, "e-after input limit")
		})
		t.Run("MaxOutput", func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			c.Write([]byte{'w'})
			select {
			case err := <-h.wrote:
				if !errors.Is(err, poller.ErrOutputLimit) {
					t.Fatalf("writing to a peer that does not read: %v, want ErrOutputLimit", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no ErrOutputLimit within 10s")
			}
			echoBytes(t, good, "e-after output limit")
		})
	})
}

// A message whose echo is larger than the engine's MaxOutput comes back
// whole: the session writes it in pieces as the socket drains. This was
// conformance case 1.1.9 etc. (a 16 MiB message echoed with the defaults:
// 16 MiB payload + header > the 16 MiB MaxOutput default), where the
// connection was dropped without a Close frame.
func TestLimitEchoLargerThanMaxOutput(t *testing.T) {
	cases := []struct {
		name      string
		maxOutput int
		size      int
	}{
		{"1 MiB over a 1 MiB cap", 1 << 20, 1 << 20},
		{"16 MiB with the defaults", 0, rawws.DefaultMaxMessageSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				CheckLeaks(t)
				srv := StartEcho(t, EchoConfig{Backend: backend, Engine: poller.Config{MaxOutput: tc.maxOutput}})
				c, err := DialRaw(srv.Addr, "/", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				msg := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16)
				c.Conn.SetDeadline(time.Now().Add(30 * time.Second))
				werr := make(chan error, 1)
				go func() { werr <- c.WriteFrame(true, frame.OpBinary, msg) }()
				f, err := c.ReadFrame(nil)
				switch {
				case err != nil:
					t.Fatalf("a %d-byte echo: connection dropped without a Close frame (%v)", len(msg), err)
				case f.Opcode == frame.OpClose:
					t.Fatalf("a %d-byte echo: closed with %d", len(msg), f.CloseCode())
				case f.Opcode != frame.OpBinary || !f.Fin || !bytes.Equal(f.Payload, msg):
					t.Fatalf("echo came back as %v, %d bytes", f.Opcode, len(f.Payload))
				}
				if err := <-werr; err != nil {
					t.Fatal(err)
				}
				healthy(t, srv.Addr)
			})
		})
	}
}

// HTTP limits of the native server, each one over: the documented status
// goes to the offender while a keep-alive connection and a WebSocket
// session on the same server keep working. (The statuses themselves are
// pinned per backend by http.TestServerDefences; here the point is the
// other connections.)
func TestLimitHTTPOthersKeepWorking(t *testing.T) {
	set := rhttp.Settings{MaxHeaderBytes: 1024, MaxHeaders: 10, MaxURILength: 256, MaxBodyBytes: 100}
	cases := []struct {
		name   string
		req    string
		status int
	}{
		{"header bytes 431", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("b", 1024) + "\r\n\r\n", 431},
		{"header count 431", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 10) + "\r\n", 431},
		{"URI length 414", "GET /" + strings.Repeat("a", 256) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"body 413", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + strings.Repeat("x", 101), 413},
		{"chunked body 413", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" + strings.Repeat("x", 101) + "\r\n0\r\n\r\n", 413},
		{"chunk line 400", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", body.MaxChunkLineBytes) + "\r\nx\r\n0\r\n\r\n", 400},
	}
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend, Front: FrontNative, HTTP: set})
		ws, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		keep, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer keep.Close()
		kr := bufio.NewReader(keep)
		keepAlive := func(when string) {
			t.Helper()
			keep.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(keep, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("y", 100))
			resp, err := nethttp.ReadResponse(kr, nil)
			if err != nil {
				t.Fatalf("keep-alive request %s: %v", when, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Close {
				t.Fatalf("keep-alive connection closed %s", when)
			}
			if err := ws.Echo([]byte("ws "+when), 5*time.Second); err != nil {
				t.Fatalf("websocket %s: %v", when, err)
			}
		}
		keepAlive("at start")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, tc.req)
				resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status || !resp.Close {
					t.Fatalf("got %d close=%v, want %d and close", resp.StatusCode, resp.Close, tc.status)
				}
				keepAlive(fmt.Sprintf("after %q", tc.name))
			})
		}
	})
}

// The control-frame backlog: a peer that floods pings and never reads the
// pongs must be contained: the session either stops reading it (TCP pushes
// back; netpoll, which cannot stop reading, closes it at MaxInput) or
// closes it with ErrQueueFull once Options.OutgoingFrames + 32 control
// frames wait. It never buffers without bound, and another connection
// keeps echoing.
func TestLimitPingFlood(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		CheckLeaks(t)
		srv := StartEcho(t, EchoConfig{Backend: backend, Session: rawws.Options{OutgoingBytes: 4 << 10}})
		good, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer good.Close()
		bad, err := DialRaw(srv.Addr, "/", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		// The client's receive buffer stays at its default: shrinking it
		// below the loopback MSS makes the kernel drop segments and back
		// off for seconds, which tests TCP, not the session.
		ping := bad.AppendFrame(nil, true, frame.OpPing, bytes.Repeat([]byte("p"), frame.MaxControlPayload))
		burst := bytes.Repeat(ping, 64)
		bad.Conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		var ended error
		sent, pushedBack := 0, false
		for i := 0; i < 4000 && ended == nil; i++ { // up to 256,000 pings, 33 MB
			if _, err := bad.Conn.Write(burst); err != nil {
				var ne net.Error
				pushedBack = errors.As(err, &ne) && ne.Timeout()
				break
			}
			sent += 64
			select {
			case ended = <-srv.Ended:
			default:
			}
		}
		if pushedBack {
			t.Logf("the server stopped reading the flooder after %d pings", sent)
			if err := good.Echo([]byte("during the flood"), 5*time.Second); err != nil {
				t.Fatalf("the other connection: %v", err)
			}
			bad.Close()
		}
		if ended == nil {
			ended = wantEnded(t, srv)
		}
		if !pushedBack && ended == nil {
			t.Fatalf("after %d unread pings the session ended cleanly: the flood was neither pushed back nor refused", sent)
		}
		t.Logf("flooded session ended with %v", ended)
		if err := good.Echo([]byte("after the flood"), 5*time.Second); err != nil {
			t.Fatalf("the other connection: %v", err)
		}
	})
}
