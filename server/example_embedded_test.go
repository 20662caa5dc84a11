package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	nethttp "net/http"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// EmbeddedServer is the seed's embeddedServer: the backend is the factory,
// the module registers HTTP routes and WebSocket endpoints. The zero
// ServerConfig listens on 127.0.0.1 on a port the OS picks.
func ExampleEmbedded() {
	srv, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "std"}}, func(app *server.App) {
		app.HandleFunc("/health", func(w *rhttp.ResponseWriter, r *rhttp.Request) {
			w.WriteString("ok")
		})
		// Event mode: a handler on the event loop, no goroutine per session.
		app.WebSocket("/echo", rawws.Options{MessageHandler: rawws.MessageFuncs{
			Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
				s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
			},
		}})
		// Channel mode: the seed's API, one goroutine for this session only.
		app.Channel("/shout", func(s *rawws.Session) {
			for f := range s.Incoming() {
				if f.Opcode != frame.OpText {
					return
				}
				s.SendText(context.Background(), string(bytes.ToUpper(f.Payload)))
			}
		})
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	base := srv.Addr().String()

	resp, err := nethttp.Get("http://" + base + "/health")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	ctx := context.Background()
	for _, path := range []string{"/echo", "/shout"} {
		c, _, err := rawws.Dial(ctx, "ws://"+base+path, rawws.DialOptions{Backend: "std"})
		if err != nil {
			panic(err)
		}
		c.SendText(ctx, "hi")
		f := <-c.Incoming()
		fmt.Println(path, string(f.Payload))
		c.Close(io.EOF)
	}
	// Output:
	// 200 ok
	// /echo hi
	// /shout HI
}
