package http

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// nopHandler takes a hijacked connection and does nothing with it; it is
// a pointer-free value, so handing it over costs no allocation.
type nopHandler struct{}

func (nopHandler) OnOpen(poller.Conn)                 {}
func (nopHandler) OnData(_ poller.Conn, b []byte) int { return len(b) }
func (nopHandler) OnClose(poller.Conn, error)         {}

var upgradeAllocHandler = HandlerFunc(func(w *ResponseWriter, r *Request) {
	if _, err := UpgradeWebSocket(w, r, nil, nil, func(string) poller.Handler { return nopHandler{} }); err != nil {
		panic(err)
	}
})

// upgradeOnce runs one connection's life up to its WebSocket hand-off, the
// way the engine drives it: open, the upgrade request, the hijack. It
// returns once the server let go of the connection's state.
func upgradeOnce(t testing.TB, srv *Server, fc *fakeConn, req []byte) {
	fc.mu.Lock()
	fc.out, fc.handler, fc.ctx = fc.out[:0], nil, nil
	fc.mu.Unlock()
	srv.ph.OnOpen(fc)
	h, fch := fc.conn()
	if n := fch.OnData(fc, req); n != len(req) {
		t.Fatalf("consumed %d of %d", n, len(req))
	}
	// A handler on a goroutine hijacks and lets go a little later.
	deadline := time.Now().Add(5 * time.Second)
	for h.refs.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection state not released after the upgrade")
		}
		runtime.Gosched()
	}
	fc.mu.Lock()
	hijacked := fc.handler != nil
	fc.mu.Unlock()
	if !hijacked {
		t.Fatal("not hijacked")
	}
}

// TestUpgradeAllocs bounds what the HTTP server allocates for a connection
// that is upgraded at once (the WebSocket server's common case): with the
// per-connection state, the exchange and the timer reused after the
// hand-off, and the peer's address looked up only on demand, an upgrade
// leaves no garbage behind, whether the handler runs inline or on a
// goroutine. Every byte made per upgrade raises the heap goal while
// thousands of connections ramp up.
func TestUpgradeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			srv := NewServer(Settings{InlineHandlers: inline}, upgradeAllocHandler)
			defer srv.Shutdown(t.Context())
			fc := &fakeConn{}
			req := []byte(upgradeReq)
			for range 10 {
				upgradeOnce(t, srv, fc, req) // warm the pools
			}
			allocs := testing.AllocsPerRun(1000, func() { upgradeOnce(t, srv, fc, req) })
			if allocs > 0 {
				t.Fatalf("%v allocations per upgrade, want 0", allocs)
			}
		})
	}
}

// BenchmarkUpgradeFake is one upgrade on a fake connection, from open to
// the released connection state.
func BenchmarkUpgradeFake(b *testing.B) {
	for _, inline := range []bool{true, false} {
		b.Run(fmt.Sprintf("inline=%v", inline), func(b *testing.B) {
			srv := NewServer(Settings{InlineHandlers: inline}, upgradeAllocHandler)
			defer srv.Shutdown(b.Context())
			fc := &fakeConn{}
			req := []byte(upgradeReq)
			b.ReportAllocs()
			for b.Loop() {
				upgradeOnce(b, srv, fc, req)
			}
		})
	}
}

// upgradeClientEnv makes the test binary a client for TestUpgradeAllocsSockets:
// "addr n" dials n connections and upgrades them, so the server's memory
// statistics count the server alone.
const upgradeClientEnv = "RAWWS_HTTP_UPGRADE_CLIENT"

// TestUpgradeAllocsSockets measures what the server allocates per upgraded
// connection over real sockets on the epoll engine, the engine's own
// per-connection state included (which stays live). The client runs in
// another process. It bounds the count of allocations; bytes are logged
// (go test -run TestUpgradeAllocsSockets -v ./http/).
func TestUpgradeAllocsSockets(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	if os.Getenv(upgradeClientEnv) != "" {
		t.Skip("client side")
	}
	const n = 1000
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			mallocs, bytes := measureUpgrades(t, n, inline)
			t.Logf("server: %.2f allocations, %.0f bytes per upgraded connection", mallocs, bytes)
			if mallocs > maxSocketUpgradeAllocs {
				t.Errorf("%.2f allocations per upgraded connection, want <= %v", mallocs, maxSocketUpgradeAllocs)
			}
		})
	}
}

// maxSocketUpgradeAllocs leaves room for the engine's own state of a
// connection (its conn, which stays live); the HTTP server's share is 0.
// Before the server reused its state an upgrade cost 10.
const maxSocketUpgradeAllocs = 5

// measureUpgrades serves n upgrades from a client process and returns the
// server process's allocations per upgrade.
func measureUpgrades(t testing.TB, n int, inline bool) (mallocs, bytes float64) {
	eng, err := poller.New("epoll", poller.Config{Loops: 2})
	if err != nil {
		t.Skip(err)
	}
	srv := NewServer(Settings{InlineHandlers: inline, Engine: eng}, upgradeAllocHandler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	cmd := exec.Command(os.Args[0], "-test.run=^TestUpgradeClientHelper$")
	cmd.Env = append(os.Environ(), upgradeClientEnv+"="+ln.Addr().String()+" "+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	io.WriteString(stdin, "go\n")
	line, err := out.ReadString('\n')
	runtime.ReadMemStats(&after)
	if err != nil || line != "ok\n" {
		t.Fatalf("client: %q %v", line, err)
	}
	return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestUpgradeClientHelper is the client process of TestUpgradeAllocsSockets:
// it upgrades every connection, says "ok", and holds them until its input
// ends.
func TestUpgradeClientHelper(t *testing.T) {
	spec := os.Getenv(upgradeClientEnv)
	if spec == "" {
		t.Skip("only run by TestUpgradeAllocsSockets")
	}
	addr, ns, _ := strings.Cut(spec, " ")
	n, _ := strconv.Atoi(ns)
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(1)
	}
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 4096)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, upgradeReq)
		got := 0
		for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
			k, err := c.Read(buf[got:])
			if err != nil {
				fmt.Fprintln(os.Stderr, "read:", err)
				os.Exit(1)
			}
			got += k
		}
		if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 101 ")) {
			fmt.Fprintf(os.Stderr, "answer %q\n", buf[:got])
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	os.Stdout.WriteString("ok\n")
	io.Copy(io.Discard, in)
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}

// A loop may find a connection's hconn through a stale context or handler
// just after a hijack on another goroutine; acquire must refuse it once it
// was released, or bound to another connection since, so the old
// connection's bytes never reach the new one's state.
func TestHconnAcquire(t *testing.T) {
	srv := NewServer(Settings{}, upgradeAllocHandler)
	a, b := &fakeConn{}, &fakeConn{}
	for _, tc := range []struct {
		name     string
		refs     int32
		bound    poller.Conn
		want     bool
		wantRefs int32
	}{
		{"live", 1, a, true, 2},
		{"released", 0, nil, false, 0},
		{"rebound", 1, b, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hconn{srv: srv, c: tc.bound}
			h.refs.Store(tc.refs)
			if got := h.acquire(a); got != tc.want {
				t.Fatalf("acquire = %v, want %v", got, tc.want)
			}
			if r := h.refs.Load(); r != tc.wantRefs {
				t.Fatalf("refs = %d, want %d", r, tc.wantRefs)
			}
			if !tc.want {
				if n := onData(h, a, []byte("GET / HTTP/1.1\r\n\r\n")); n != 0 {
					t.Fatalf("stale onData consumed %d bytes", n)
				}
			}
		})
	}
}

// Every way a connection ends gives its state back: closed by the peer
// (the timer is stopped), closed by the idle timeout (the timer's callback
// lets go), or hijacked (TestHijackReleasesConnState).
func TestHconnReleasedOnClose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		idle      time.Duration
		waitClose bool // let the idle timeout close it first
	}{
		{"peer close", time.Minute, false},
		{"idle timeout", 20 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(Settings{IdleTimeout: tc.idle}, helloHandler)
			fc := &fakeConn{}
			srv.ph.OnOpen(fc)
			h, fch := fc.conn()
			if tc.waitClose {
				for i := 0; ; i++ {
					fc.mu.Lock()
					closed := fc.closed
					fc.mu.Unlock()
					if closed {
						break
					}
					if i == 500 {
						t.Fatal("idle connection not closed")
					}
					time.Sleep(time.Millisecond)
				}
			}
			fch.OnClose(fc, nil)
			for i := 0; h.refs.Load() != 0; i++ {
				if i == 500 {
					t.Fatalf("connection state still referenced %d times after close", h.refs.Load())
				}
				time.Sleep(time.Millisecond)
			}
			srv.mu.Lock()
			n := len(srv.conns)
			srv.mu.Unlock()
			if n != 0 {
				t.Fatalf("server still tracks %d connections", n)
			}
		})
	}
}
