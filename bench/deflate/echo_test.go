package deflate

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/netpoll"
)

// The compressed echo comparison: rawws (netpoll backend, UpgradeHTTP)
// against lxzan/gws, each in a child process so its heap can be measured
// alone, driven by the same gws clients (8 connections, one message in
// flight each), 15-bit windows on both sides.
//
//	cd bench && go test -run '^$' -bench CompressedEcho -benchtime 2000x ./deflate

const envServer = "RAWWS_PMD_SERVER" // "rawws" or "gws", ":0" or ":1" takeover suffix

func TestMain(m *testing.M) {
	if spec := os.Getenv(envServer); spec != "" {
		runServer(spec)
		return
	}
	os.Exit(m.Run())
}

// runServer is the child process: an echo server plus GET /heap, which
// answers the live heap after two GCs.
func runServer(spec string) {
	kind, takeover, _ := strings.Cut(spec, ":")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/heap", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		fmt.Fprint(w, ms.HeapAlloc)
	})
	switch kind {
	case "rawws":
		eng, err := poller.New("netpoll", poller.Config{})
		if err != nil {
			panic(err)
		}
		comp := &rawws.Compression{}
		if takeover != "1" {
			comp.ServerNoContextTakeover, comp.ClientNoContextTakeover = true, true
		}
		echo := rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
			s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
		}}
		mux.HandleFunc("/", func(w nethttp.ResponseWriter, r *nethttp.Request) {
			rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Engine: eng, Options: rawws.Options{MessageHandler: echo, Compression: comp}})
		})
	case "gws":
		up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{PermessageDeflate: gwsDeflate(takeover == "1")})
		mux.HandleFunc("/", func(w nethttp.ResponseWriter, r *nethttp.Request) {
			c, err := up.Upgrade(w, r)
			if err == nil {
				go c.ReadLoop()
			}
		})
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	nethttp.Serve(ln, mux)
}

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func gwsDeflate(takeover bool) gws.PermessageDeflate {
	return gws.PermessageDeflate{Enabled: true, Level: 1, Threshold: 128, ServerContextTakeover: takeover, ClientContextTakeover: takeover,
		ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
}

// child is a running server process.
type child struct {
	addr string
	cmd  *exec.Cmd
}

var children sync.Map // spec → *child, kept for the whole run

func serverFor(b *testing.B, spec string) *child {
	if c, ok := children.Load(spec); ok {
		return c.(*child)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServer+"="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		b.Fatalf("server %s: %q %v", spec, line, err)
	}
	c := &child{addr: addr, cmd: cmd}
	children.Store(spec, c)
	return c
}

func killChildren() {
	children.Range(func(k, v any) bool {
		c := v.(*child)
		c.cmd.Process.Kill()
		c.cmd.Wait()
		children.Delete(k)
		return true
	})
}

func (c *child) heap(b *testing.B) int64 {
	resp, err := nethttp.Get("http://" + c.addr + "/heap")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n, _ := strconv.ParseInt(string(body), 10, 64)
	return n
}

// countingConn counts the bytes a client moves.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

type countingDialer struct{ n *atomic.Int64 }

func (d countingDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return countingConn{c, d.n}, nil
}

// client is one gws connection with its echoes on a channel.
type client struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	echoes chan []byte
}

func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.echoes <- bytes.Clone(m.Bytes())
	m.Close()
}

func dialClient(b *testing.B, addr string, takeover bool, wire *atomic.Int64) *client {
	c := &client{echoes: make(chan []byte, 1)}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:              "ws://" + addr + "/",
		PermessageDeflate: gwsDeflate(takeover),
		NewDialer:         func() (gws.Dialer, error) { return countingDialer{wire}, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		b.Fatalf("no permessage-deflate negotiated: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	c.conn = conn
	go conn.ReadLoop()
	return c
}

func (c *client) roundTrip(b *testing.B, m []byte) {
	if err := c.conn.WriteMessage(gws.OpcodeText, m); err != nil {
		b.Fatal(err)
	}
	select {
	case got := <-c.echoes:
		if len(got) != len(m) || !bytes.Equal(got[:64], m[:64]) {
			b.Fatalf("echo differs: %d bytes for %d", len(got), len(m))
		}
	case <-time.After(10 * time.Second):
		b.Fatal("no echo")
	}
}

func BenchmarkCompressedEcho(b *testing.B) {
	defer killChildren()
	const conns = 8
	const idleConns = 100
	for _, size := range []int{1 << 10, 64 << 10} {
		msgs := payloads("json", size)
		for _, takeover := range []bool{true, false} {
			for _, server := range []string{"rawws", "gws"} {
				name := fmt.Sprintf("size=%d/takeover=%v/server=%s", size, takeover, server)
				b.Run(name, func(b *testing.B) {
					tk := "0"
					if takeover {
						tk = "1"
					}
					srv := serverFor(b, server+":"+tk)
					var wire atomic.Int64
					cs := make([]*client, conns)
					for i := range cs {
						cs[i] = dialClient(b, srv.addr, takeover, &wire)
					}
					defer func() {
						for _, c := range cs {
							c.conn.NetConn().Close()
						}
					}()
					wire.Store(0)
					b.SetBytes(int64(size))
					b.ResetTimer()
					start := time.Now()
					var wg sync.WaitGroup
					var next atomic.Int64
					for _, c := range cs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for {
								i := next.Add(1) - 1
								if i >= int64(b.N) {
									return
								}
								c.roundTrip(b, msgs[i%int64(len(msgs))])
							}
						}()
					}
					wg.Wait()
					elapsed := time.Since(start)
					b.StopTimer()
					b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
					b.ReportMetric(float64(wire.Load())/float64(b.N), "wire-B/msg")

					// Server heap per connection at rest: idle connections
					// that each echoed two messages, against the heap before.
					before := srv.heap(b)
					idle := make([]*client, idleConns)
					var idleWire atomic.Int64
					for i := range idle {
						idle[i] = dialClient(b, srv.addr, takeover, &idleWire)
						idle[i].roundTrip(b, msgs[i%len(msgs)])
						idle[i].roundTrip(b, msgs[(i+1)%len(msgs)])
					}
					after := srv.heap(b)
					for _, c := range idle {
						c.conn.NetConn().Close()
					}
					b.ReportMetric(float64(after-before)/idleConns, "server-B/conn")
				})
			}
		}
	}
}
