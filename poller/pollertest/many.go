package pollertest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// childEnv makes a re-executed test binary act as the client of the
// many-connections test: "addr n ping" (ping: send one byte per connection
// and wait for its echo).
const childEnv = "RAWWS_POLLERTEST_CHILD"

// runChild is the client process: it opens n connections to addr, prints
// "ready", waits for its stdin to close, closes them all and exits.
func runChild() bool {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return false
	}
	f := strings.Fields(spec)
	n, _ := strconv.Atoi(f[1])
	ping := len(f) > 2 && f[2] == "ping"
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := net.DialTimeout("tcp", f[0], 10*time.Second)
				if err != nil {
					failed.Store(err)
					return
				}
				if ping {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					var b [1]byte
					if _, err := c.Write([]byte{'p'}); err == nil {
						_, err = io.ReadFull(c, b[:])
					}
					if err != nil {
						failed.Store(err)
						return
					}
					c.SetDeadline(time.Time{})
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
	return true
}

// child is a running client process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startChild re-executes the running test binary as a client of addr.
func startChild(t testing.TB, addr string, n int, ping bool) *child {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	spec := fmt.Sprintf("%s %d", addr, n)
	if ping {
		spec += " ping"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+top+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { ch.stop() })
	return ch
}

// ready waits for the child's report that every connection is open.
func (ch *child) ready(t testing.TB, d time.Duration) {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		// Skip whatever the testing package prints before the report.
		for {
			s, err := ch.out.ReadString('\n')
			if err != nil || strings.HasPrefix(s, "ready") || strings.HasPrefix(s, "error") {
				line <- s
				return
			}
		}
	}()
	if s := wait(t, line, d, "client process"); strings.TrimSpace(s) != "ready" {
		t.Fatalf("client process: %q", s)
	}
}

// stop makes the child close its connections and waits for it to exit.
func (ch *child) stop() {
	if ch.stdin == nil {
		return
	}
	ch.stdin.Close()
	ch.stdin = nil
	done := make(chan struct{})
	go func() { ch.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		ch.cmd.Process.Kill()
		<-done
	}
}

// openFDs counts this process's open descriptors (-1 where /proc is missing).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// counter is a handler that counts opens and closes.
type counter struct {
	opened, closed atomic.Int64
	writeErrs      atomic.Int64
	echo           bool
}

func (h *counter) OnOpen(poller.Conn) { h.opened.Add(1) }
func (h *counter) OnData(c poller.Conn, b []byte) int {
	if h.echo {
		if _, err := c.Write(b); err != nil {
			h.writeErrs.Add(1)
		}
	}
	return len(b)
}
func (h *counter) OnClose(poller.Conn, error) { h.closed.Add(1) }

// until polls cond every 10 ms for up to d.
func until(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// testManyConns opens and closes many connections from a client process and
// checks that goroutines and descriptors return to where they were.
func (s *suite) testManyConns(t *testing.T) {
	n := 19000
	switch {
	case s.opts.ManyConns > 0:
		n = s.opts.ManyConns
	case testing.Short():
		n = 500
	case raceEnabled:
		n = 2000
	}
	eng := s.engine(t, poller.Config{})
	h := &counter{echo: true}
	addr := serve(t, eng, h)
	// Warm up: backends may start pollers and wheel goroutines lazily.
	warm := dial(t, addr)
	warm.Write([]byte("w"))
	warm.Read(make([]byte, 1))
	warm.Close()
	if !until(5*time.Second, func() bool { return h.closed.Load() == 1 }) {
		t.Fatal("warm-up connection not closed")
	}
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), openFDs()

	start := time.Now()
	ch := startChild(t, addr, n, false)
	ch.ready(t, 60*time.Second)
	if !until(20*time.Second, func() bool { return h.opened.Load() == int64(n)+1 }) {
		t.Fatalf("server opened %d of %d connections", h.opened.Load()-1, n)
	}
	t.Logf("%d connections open after %v (%d goroutines, %d fds)", n, time.Since(start), runtime.NumGoroutine(), openFDs())
	ch.stop()
	if !until(20*time.Second, func() bool { return h.closed.Load() == int64(n)+1 }) {
		t.Fatalf("server closed %d of %d connections", h.closed.Load()-1, n)
	}
	var g, fd int
	ok := until(10*time.Second, func() bool {
		g, fd = runtime.NumGoroutine(), openFDs()
		return g <= g0 && fd <= fd0
	})
	if !ok {
		t.Fatalf("after closing: %d goroutines (was %d), %d fds (was %d)", g, g0, fd, fd0)
	}
	t.Logf("opened and closed %d connections in %v", n, time.Since(start))
}

// testIdleMemory measures the server's resident memory per idle connection
// (each has exchanged one byte) at 10,000 and 19,000 connections, with the
// clients in another process. Enabled by RAWWS_BENCH_IDLE=1; results are
// logged, not asserted.
func (s *suite) testIdleMemory(t *testing.T) {
	if os.Getenv("RAWWS_BENCH_IDLE") == "" {
		t.Skip("set RAWWS_BENCH_IDLE=1 to measure bytes per idle connection")
	}
	if raceEnabled {
		t.Skip("memory under the race detector means nothing")
	}
	for _, n := range []int{10000, 19000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			eng := s.engine(t, poller.Config{})
			h := &counter{echo: true}
			addr := serve(t, eng, h)
			runtime.GC()
			debug.FreeOSMemory()
			before := vmRSS(t)
			ch := startChild(t, addr, n, true)
			ch.ready(t, 60*time.Second)
			if !until(20*time.Second, func() bool { return h.opened.Load() == int64(n) }) {
				t.Fatalf("server opened %d of %d connections", h.opened.Load(), n)
			}
			time.Sleep(3 * time.Second)
			runtime.GC()
			after := vmRSS(t)
			t.Logf("%s: %d idle conns: RSS %d -> %d KiB, %.2f KB per connection",
				eng.Name(), n, before>>10, after>>10, float64(after-before)/float64(n)/1000)
			ch.stop()
			until(20*time.Second, func() bool { return h.closed.Load() == int64(n) })
		})
	}
}

// vmRSS reads VmRSS of this process in bytes.
func vmRSS(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}
