package server_test

import (
	"context"
	"fmt"
	"net"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// Serve takes a listener you already have (here one on loopback; it could
// come from systemd socket activation or a test) and answers WebSocket
// handshakes on it. Closing the listener stops Serve and drains the
// sessions.
func ExampleServe() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	echo := rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
		s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p}) // p is a view: SendCopy copies if needed
	}}
	served := make(chan error, 1)
	go func() {
		served <- server.Serve(ln, server.Endpoint{Options: rawws.Options{MessageHandler: echo}}, server.Config{})
	}()

	ctx := context.Background()
	c, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/chat", rawws.DialOptions{Backend: "std"})
	if err != nil {
		panic(err)
	}
	c.SendText(ctx, "hello")
	f := <-c.Incoming()
	fmt.Println(f.Opcode, string(f.Payload))

	ln.Close() // Serve returns after draining: the client gets 1001
	f = <-c.Incoming()
	r, _ := frame.ParseCloseReason(f.Payload)
	fmt.Println(f.Opcode, int(r.Code))
	c.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: f.Payload[:2]})
	<-served
	// Output:
	// text hello
	// close 1001
}
