package server_test

import (
	"fmt"
	nethttp "net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// netHTTPUpgrader runs a net/http server whose only handler upgrades with
// rawws.UpgradeHTTP onto eng. opened counts sessions whose OnOpen ran.
func netHTTPUpgrader(t *testing.T, eng poller.Engine, opened *atomic.Int64) (addr string, stop func()) {
	t.Helper()
	ln := listenLocal(t)
	h := rawws.MessageFuncs{
		Open:    func(*rawws.Session) { opened.Add(1) },
		Message: echoMessages.Message,
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if _, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: h}, Engine: eng}); err != nil {
			t.Errorf("upgrade: %v", err)
		}
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }
}

// The bytes a client sends in the same write as the upgrade request (its
// first frames) reach the session in order: nothing net/http had already
// read is lost.
func TestUpgradeHTTPKeepsPipelinedBytes(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			eng, err := poller.New(backend, poller.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			var opened atomic.Int64
			addr, stop := netHTTPUpgrader(t, eng, &opened)
			defer stop()
			for _, n := range []int{1, 3, 200} { // 200 frames: more than net/http's 4 KiB buffer
				var extra []byte
				for i := range n {
					extra = append(extra, clientFrame(frame.OpText, fmt.Appendf(nil, "frame %03d of %d", i, n))...)
				}
				c := dialWS(t, addr, "/", extra)
				for i := range n {
					c.expect(t, frame.OpText, fmt.Sprintf("frame %03d of %d", i, n))
				}
				c.c.Close()
			}
		})
	}
}

// After the upgrade no goroutine is left per connection: net/http's
// connection goroutine has returned after Hijack and the event-loop
// backends run the session without one.
func TestUpgradeHTTPNoGoroutinePerConn(t *testing.T) {
	const conns = 200
	for _, backend := range eventBackends(t) {
		t.Run(backend, func(t *testing.T) {
			eng, err := poller.New(backend, poller.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			var opened atomic.Int64
			addr, stop := netHTTPUpgrader(t, eng, &opened)
			defer stop()

			// Warm up whatever starts once (pollers, the accept path).
			w := dialWS(t, addr, "/", nil)
			w.send(t, frame.OpText, []byte("warm"))
			w.expect(t, frame.OpText, "warm")
			w.c.Close()
			time.Sleep(50 * time.Millisecond)
			before := runtime.NumGoroutine()

			clients := make([]*wsClient, conns)
			for i := range clients {
				clients[i] = dialWS(t, addr, "/", nil)
			}
			for i, c := range clients { // every session is live and echoing
				c.send(t, frame.OpText, fmt.Appendf(nil, "m%d", i))
				c.expect(t, frame.OpText, fmt.Sprintf("m%d", i))
			}
			if got := opened.Load(); got != conns+1 {
				t.Fatalf("%d sessions opened, want %d", got, conns+1)
			}
			var after int
			settle(2*time.Second, func() bool {
				after = runtime.NumGoroutine()
				return after-before <= 4
			})
			t.Logf("%s: %d goroutines before, %d with %d upgraded connections", backend, before, after, conns)
			if after-before > 4 {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines more with %d upgraded connections (want ~0 per connection)\n%s",
					after-before, conns, buf[:runtime.Stack(buf, true)])
			}
			for _, c := range clients {
				c.c.Close()
			}
		})
	}
}
