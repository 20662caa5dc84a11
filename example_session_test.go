package rawws_test

import (
	"context"
	"fmt"
	"net"
	nethttp "net/http"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// A message-mode echo server inside net/http, and a client session in
// channel mode talking to it.
func Example() {
	echo := rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
		// p is only valid during the callback: SendCopy copies if needed.
		s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: echo}, Backend: "std"})
	})}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	s, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Backend: "std"})
	if err != nil {
		panic(err)
	}
	s.SendText(ctx, "hello")
	f := <-s.Incoming()
	fmt.Println(f.Opcode, string(f.Payload))

	s.CloseWith(ctx, frame.CloseReason{Code: frame.CloseNormal})
	for f := range s.Incoming() { // the server's Close, then the end
		fmt.Println(f.Opcode)
	}
	// Output:
	// text hello
	// close
}

// Raw frames in event mode: a handler on the event loop, no goroutine per
// connection.
func ExampleHandlerFuncs() {
	_ = rawws.Options{Handler: rawws.HandlerFuncs{
		Frame: func(s *rawws.Session, f frame.Frame) {
			if f.Opcode == frame.OpPing {
				// Raw sessions answer nothing by themselves.
				s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: frame.OpPong, Payload: f.Payload})
			}
		},
	}}
}
