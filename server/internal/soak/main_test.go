package soak

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
	_ "github.com/rawws/rawws/poller/std"
)

var (
	long     = flag.Bool("soak.long", false, "run the long soak (make soak)")
	conns    = flag.Int("soak.conns", 0, "connections per soak run (0: 6, or 32 with -soak.long)")
	messages = flag.Int("soak.msgs", 0, "messages per connection (0: 60, or 1500 with -soak.long)")
	seed     = flag.Uint64("soak.seed", 0, "seed (0: from the clock, logged)")
)

// TestMain starts and stops one engine of every backend first: netpoll's
// pollers and their descriptors are process-wide and outlive an engine, so
// the first use must not count as a leak in CheckLeaks.
func TestMain(m *testing.M) {
	flag.Parse()
	for _, b := range poller.Backends() {
		if err := warmUp(b); err != nil {
			fmt.Fprintf(os.Stderr, "warm-up %s: %v\n", b, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

type nopHandler struct{}

func (nopHandler) OnOpen(poller.Conn)                 {}
func (nopHandler) OnData(_ poller.Conn, b []byte) int { return len(b) }
func (nopHandler) OnClose(poller.Conn, error)         {}

func warmUp(backend string) error {
	eng, err := poller.New(backend, poller.Config{})
	if err != nil {
		return err
	}
	defer eng.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go eng.Serve(ln, nopHandler{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := eng.Dial(ctx, "tcp", ln.Addr().String(), nopHandler{})
	if err != nil {
		return err
	}
	c.Write([]byte("x"))
	c.Flush(ctx)
	c.Close()
	eng.AfterFunc(time.Millisecond, func() {}).Stop()
	return eng.Shutdown(ctx)
}

// forBackends runs f as a subtest per registered backend.
func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range poller.Backends() {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}
