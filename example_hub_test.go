package rawws_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// A chat room: every session joins the topic when it opens and what anyone
// sends is published to all, encoded once. Sessions leave the hub by
// themselves when their connection is gone.
func ExampleHub() {
	hub := rawws.NewHub(rawws.HubOptions{SlowPolicy: rawws.SlowDrop})
	room := rawws.MessageFuncs{
		Open: func(s *rawws.Session) { hub.Subscribe("room", s) },
		Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
			hub.Publish("room", op, p) // p is only read during the call
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go server.Serve(ln, server.Endpoint{Options: rawws.Options{MessageHandler: room}}, server.Config{})

	ctx := context.Background()
	var clients []*rawws.Session
	for i := 0; i < 2; i++ {
		c, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Backend: "std"})
		if err != nil {
			panic(err)
		}
		clients = append(clients, c)
	}
	for end := time.Now().Add(5 * time.Second); hub.Subscribers("room") < 2 && time.Now().Before(end); {
		time.Sleep(time.Millisecond) // both joined (OnOpen runs on the server's loop)
	}
	clients[0].SendText(ctx, "hello, room")
	for i, c := range clients {
		f := <-c.Incoming()
		fmt.Println(i, f.Opcode, string(f.Payload))
	}
	// The publisher counts a delivery once its write returned, which can
	// trail the client's read by a moment.
	for end := time.Now().Add(5 * time.Second); hub.Stats().Delivered < 2 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	st := hub.Stats()
	fmt.Println(st.Published, st.Delivered, st.Dropped)
	// Output:
	// 0 text hello, room
	// 1 text hello, room
	// 1 2 0
}
