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

// Shutdown drains: every session gets Close 1001 behind the frames already
// queued for it, the server waits for the close handshakes (bounded by
// ctx), then the rest is closed.
func ExampleServer_Shutdown() {
	srv, err := server.New(func(app *server.App) {
		app.WebSocket("/", rawws.Options{MessageHandler: rawws.MessageFuncs{
			Open: func(s *rawws.Session) { s.SendText(context.Background(), "welcome") },
		}})
	}, server.Config{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	// A message-mode client answers the server's Close by itself.
	got := make(chan string, 4)
	client := rawws.MessageFuncs{
		Message: func(s *rawws.Session, op frame.Opcode, p []byte) { got <- string(p) },
		Close:   func(s *rawws.Session, err error) { got <- fmt.Sprint("closed: ", err) },
	}
	ctx := context.Background()
	if _, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Backend: "std", Options: rawws.Options{MessageHandler: client}}); err != nil {
		panic(err)
	}
	fmt.Println(<-got)

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	fmt.Println(<-got)
	// Output:
	// welcome
	// shutdown: <nil>
	// closed: rawws: peer closed: 1001 "server shutting down"
}
