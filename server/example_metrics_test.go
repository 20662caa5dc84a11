package server_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// Metrics reads a server's counters as a struct; Stats sums every server
// of the process and is published with expvar as "rawws" (serve
// expvar.Handler, e.g. on /debug/vars, to see it).
func ExampleServer_Metrics() {
	srv, err := server.New(func(app *server.App) {
		app.WebSocket("/", rawws.Options{MessageHandler: rawws.MessageFuncs{}})
	}, server.Config{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	for _, code := range []frame.CloseCode{frame.CloseNormal, frame.CloseGoingAway} {
		c, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Backend: "std"})
		if err != nil {
			panic(err)
		}
		c.CloseWith(ctx, frame.CloseReason{Code: code})
		for range c.Incoming() { // the server's answer, then the end
		}
	}
	for srv.Group().Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	m := srv.Metrics()
	fmt.Printf("accepted %d, open %d, closed normally %d\n", m.Accepted, m.Open, m.Closed.Normal)
	// Output:
	// accepted 2, open 0, closed normally 2
}
