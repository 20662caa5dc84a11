// Command echo-gorilla is a WebSocket echo server built on
// gorilla/websocket, the peer the conformance suite compares rawws with.
// Every message is echoed with its opcode once gorilla has reassembled it;
// text that is not valid UTF-8 fails the connection with 1007 (gorilla
// leaves that check to the application, as its Autobahn example does).
//
//	echo-gorilla -addr 127.0.0.1:9001
//
// It prints "listening on ADDR" once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	up := websocket.Upgrader{
		ReadBufferSize:  64 << 10,
		WriteBufferSize: 64 << 10,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(32 << 20)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if mt == websocket.TextMessage && !utf8.Valid(p) {
				_ = c.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""), time.Now().Add(time.Second))
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})}
	log.Fatal(srv.Serve(ln))
}
