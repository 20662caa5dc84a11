package broadcast

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lxzan/gws"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
	rserver "github.com/rawws/rawws/server"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("BCAST_CHILD"); addr != "" {
		os.Exit(runChild(addr))
	}
	code := m.Run()
	closeEnv()
	os.Exit(code)
}

// --- servers under test -------------------------------------------------

// server is one implementation: it accepts WebSocket clients on ln and
// sends a message to all of them.
type server interface {
	open() int // connections currently open
	publish(payload []byte)
	stop()
}

// rawwsServer publishes with Hub.Publish.
type rawwsServer struct {
	hub  *rawws.Hub
	n    atomic.Int64
	ln   net.Listener
	done chan error
}

func startRawws(ln net.Listener, backend string, writers int) server {
	s := &rawwsServer{hub: rawws.NewHub(rawws.HubOptions{SlowPolicy: rawws.SlowDrop, Writers: writers}), ln: ln, done: make(chan error, 1)}
	h := rawws.MessageFuncs{
		Open:  func(ss *rawws.Session) { s.hub.Subscribe("all", ss); s.n.Add(1) },
		Close: func(*rawws.Session, error) { s.n.Add(-1) },
	}
	go func() {
		s.done <- rserver.Serve(ln, rserver.Endpoint{Options: rawws.Options{MessageHandler: h, OutgoingFrames: 64, CloseTimeout: time.Second}},
			rserver.Config{Backend: backend})
	}()
	return s
}

func (s *rawwsServer) open() int { return int(s.n.Load()) }
func (s *rawwsServer) publish(p []byte) {
	s.hub.Publish("all", frame.OpBinary, p)
}
func (s *rawwsServer) stop() { s.ln.Close(); <-s.done }

// gorillaServer writes a PreparedMessage to every connection in a loop
// (gorilla connections take one writer at a time; the publisher is it).
type gorillaServer struct {
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	srv   *http.Server
}

func startGorilla(ln net.Listener) server {
	s := &gorillaServer{conns: map[*websocket.Conn]struct{}{}}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		for {
			if _, _, err := c.NextReader(); err != nil {
				break
			}
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	})}
	go s.srv.Serve(ln)
	return s
}

func (s *gorillaServer) open() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.conns) }
func (s *gorillaServer) publish(p []byte) {
	pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, p)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	for c := range s.conns {
		c.WritePreparedMessage(pm)
	}
	s.mu.Unlock()
}
func (s *gorillaServer) stop() {
	s.srv.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// gwsServer queues a Broadcaster on every connection.
type gwsServer struct {
	gws.BuiltinEventHandler
	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
	list  []*gws.Conn
	dirty bool
	ln    net.Listener
}

func startGws(ln net.Listener) server {
	s := &gwsServer{conns: map[*gws.Conn]struct{}{}, ln: ln}
	up := gws.NewUpgrader(s, &gws.ServerOption{})
	// gws's own RunListener keeps retrying a closed listener: accept here.
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(nc)
				r, err := http.ReadRequest(br)
				if err != nil {
					nc.Close()
					return
				}
				c, err := up.UpgradeFromConn(nc, br, r)
				if err != nil {
					nc.Close()
					return
				}
				c.ReadLoop()
			}()
		}
	}()
	return s
}

func (s *gwsServer) OnOpen(c *gws.Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.dirty = true
	s.mu.Unlock()
}
func (s *gwsServer) OnClose(c *gws.Conn, err error) {
	s.mu.Lock()
	delete(s.conns, c)
	s.dirty = true
	s.mu.Unlock()
}
func (s *gwsServer) open() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.conns) }
func (s *gwsServer) publish(p []byte) {
	s.mu.Lock()
	if s.dirty {
		s.list = s.list[:0]
		for c := range s.conns {
			s.list = append(s.list, c)
		}
		s.dirty = false
	}
	b := gws.NewBroadcaster(gws.OpcodeBinary, p)
	for _, c := range s.list {
		b.Broadcast(c)
	}
	s.mu.Unlock()
	b.Close()
}
func (s *gwsServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.NetConn().Close()
	}
	s.mu.Unlock()
}

var impls = []struct {
	name  string
	start func(net.Listener) server
}{
	{"rawws-netpoll", func(ln net.Listener) server { return startRawws(ln, "netpoll", 0) }},
	{"rawws-epoll", func(ln net.Listener) server { return startRawws(ln, "epoll", 0) }},
	{"rawws-epoll-w2", func(ln net.Listener) server { return startRawws(ln, "epoll", 2) }},
	{"gorilla", startGorilla},
	{"gws", startGws},
}

// --- environment: one server and one client process at a time ---------

type env struct {
	key   string
	srv   server
	child *exec.Cmd
	stdin io.WriteCloser
	done  chan int // message numbers that reached every client
	next  int      // next message number
}

var cur *env

func closeEnv() {
	if cur == nil {
		return
	}
	cur.stdin.Close()
	cur.child.Wait()
	cur.srv.stop()
	cur = nil
}

// getEnv returns a server of impl with n connected clients expecting
// frames of frameLen bytes, reusing the last one when it matches.
func getEnv(b *testing.B, impl int, n, frameLen int) *env {
	key := fmt.Sprint(impl, n, frameLen)
	if cur != nil && cur.key == key {
		return cur
	}
	b.StopTimer()
	defer b.StartTimer()
	closeEnv()
	time.Sleep(200 * time.Millisecond) // let the last server's descriptors go
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	e := &env{key: key, srv: impls[impl].start(ln), done: make(chan int, 1<<16)}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BCAST_CHILD="+ln.Addr().String(), fmt.Sprintf("BCAST_CHILD_N=%d", n), fmt.Sprintf("BCAST_CHILD_LEN=%d", frameLen))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if e.stdin, err = cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	e.child = cmd
	cur = e
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				ready <- nil
				continue
			}
			if strings.HasPrefix(line, "error") {
				ready <- fmt.Errorf("child: %s", line)
				continue
			}
			k, err := strconv.Atoi(line)
			if err == nil {
				e.done <- k
			}
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		b.Fatal("clients not connected in 60 s")
	}
	for end := time.Now().Add(10 * time.Second); e.srv.open() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			b.Fatalf("server sees %d of %d connections", e.srv.open(), n)
		}
	}
	return e
}

// waitFor waits until message k reached every client.
func (e *env) waitFor(b *testing.B, k int, seen map[int]bool) {
	timeout := time.After(30 * time.Second)
	for !seen[k] {
		select {
		case d := <-e.done:
			seen[d] = true
		case <-timeout:
			b.Fatalf("message %d did not reach every client in 30 s", k)
		}
	}
	delete(seen, k)
}

func sizesAndNs() []int {
	ns := []int{1000, 10000}
	if v := os.Getenv("BCAST_N"); v != "" {
		ns = ns[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err == nil {
				ns = append(ns, n)
			}
		}
	}
	return ns
}

// frameLen is the size of a server frame carrying size bytes.
func frameLen(size int) int {
	return frame.HeaderSize(frame.Header{Length: int64(size)}) + size
}

// BenchmarkLatency: one message, time until its last byte reached all N.
func BenchmarkLatency(b *testing.B) {
	for _, n := range sizesAndNs() {
		for _, size := range []int{64, 4096} {
			for i, im := range impls {
				b.Run(fmt.Sprintf("N=%d/size=%d/%s", n, size, im.name), func(b *testing.B) {
					e := getEnv(b, i, n, frameLen(size))
					payload := make([]byte, size)
					seen := map[int]bool{}
					b.ResetTimer()
					for j := 0; j < b.N; j++ {
						k := e.next
						e.next++
						e.srv.publish(payload)
						e.waitFor(b, k, seen)
					}
				})
			}
		}
	}
}

// BenchmarkThroughput: messages per second to 1,000 subscribers with up
// to 8 in flight.
func BenchmarkThroughput(b *testing.B) {
	const n, window = 1000, 8
	for _, size := range []int{64, 4096} {
		for i, im := range impls {
			b.Run(fmt.Sprintf("N=%d/size=%d/%s", n, size, im.name), func(b *testing.B) {
				e := getEnv(b, i, n, frameLen(size))
				payload := make([]byte, size)
				seen := map[int]bool{}
				first := e.next
				b.ResetTimer()
				for j := 0; j < b.N; j++ {
					k := e.next
					e.next++
					if k-window >= first {
						e.waitFor(b, k-window, seen)
					}
					e.srv.publish(payload)
				}
				for k := max(first, e.next-window); k < e.next; k++ {
					e.waitFor(b, k, seen)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// --- the client process -------------------------------------------------

// ring is how many messages the child tracks at once; the parent never
// has more than a few in flight.
const ring = 1024

type childState struct {
	n, flen int
	slots   [ring]atomic.Int32
	out     chan int
}

// client counts one connection's bytes.
type client struct {
	st  *childState
	got int64
}

func (c *client) OnOpen(poller.Conn) {}
func (c *client) OnData(_ poller.Conn, b []byte) int {
	before := c.got / int64(c.st.flen)
	c.got += int64(len(b))
	after := c.got / int64(c.st.flen)
	for k := before; k < after; k++ {
		sl := &c.st.slots[k%ring]
		if int(sl.Add(1)) == c.st.n {
			sl.Store(0)
			c.st.out <- int(k)
		}
	}
	return len(b)
}
func (c *client) OnClose(poller.Conn, error) {}

func runChild(addr string) int {
	n, _ := strconv.Atoi(os.Getenv("BCAST_CHILD_N"))
	flen, _ := strconv.Atoi(os.Getenv("BCAST_CHILD_LEN"))
	st := &childState{n: n, flen: flen, out: make(chan int, 1<<16)}
	eng, err := poller.New("epoll", poller.Config{Loops: 2})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	var wmu sync.Mutex
	line := func(s string) {
		wmu.Lock()
		w.WriteString(s)
		w.WriteByte('\n')
		w.Flush()
		wmu.Unlock()
	}
	var conns []poller.Conn
	var cmu sync.Mutex
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, err := handshake(eng, addr, &client{st: st})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				cmu.Lock()
				conns = append(conns, c)
				cmu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		line("error " + err.Error())
		return 1
	default:
	}
	go func() {
		for k := range st.out {
			line(strconv.Itoa(k))
		}
	}()
	line("ready")
	io.Copy(io.Discard, os.Stdin) // until the parent is done
	for _, c := range conns {
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	eng.Shutdown(ctx)
	return 0
}

// handshake connects, upgrades and moves the connection onto eng.
func handshake(eng poller.Engine, addr string, h poller.Handler) (poller.Conn, error) {
	var nc net.Conn
	var err error
	for try := 0; try < 50; try++ {
		if nc, err = net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	nc.SetDeadline(time.Time{})
	buffered, _ := br.Peek(br.Buffered())
	return eng.Adopt(nc, buffered, h)
}
