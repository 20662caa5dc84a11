package rawws_test

import (
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// A net/http server keeps serving its routes and hands WebSocket requests
// to the event loop with UpgradeHTTP: net/http's goroutine for the
// connection ends at the hijack, and bytes the client sent right behind
// the request are kept. Naming a Group in the options adds the graceful
// drain and the counts.
func ExampleUpgradeHTTP() {
	var sessions rawws.Group
	echo := rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
		s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
	}}
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/ws", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: echo, Group: &sessions}})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := &nethttp.Server{Handler: mux}
	go hs.Serve(ln)

	ctx := context.Background()
	c, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/ws", rawws.DialOptions{Backend: "std"})
	if err != nil {
		panic(err)
	}
	c.SendText(ctx, "through net/http")
	f := <-c.Incoming()
	fmt.Println(string(f.Payload))

	// net/http's Shutdown does not see hijacked connections; the group
	// drains them.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	go func() {
		for f := range c.Incoming() {
			if f.Opcode == frame.OpClose {
				c.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: f.Payload[:2]})
			}
		}
	}()
	fmt.Println("drained:", sessions.Drain(sctx))
	fmt.Println("closed by the drain:", sessions.Stats().Closed.Shutdown)
	// Output:
	// through net/http
	// drained: <nil>
	// closed by the drain: 1
}
