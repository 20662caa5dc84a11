// Command echo-nbio is a WebSocket echo server built on lesismal/nbio's
// non-blocking HTTP engine, a peer for the conformance suite and the
// benchmarks. Messages are echoed with their opcode once nbio has
// reassembled them.
//
//	echo-nbio -addr 127.0.0.1:9001
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
	"os/signal"
	"sync"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	// stdout carries only the "listening on" line scripts wait for.
	logging.Output = os.Stderr

	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.MessageLengthLimit = 32 << 20
	up.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		_ = c.WriteMessage(mt, data)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = up.Upgrade(w, r, nil)
	})

	// nbio opens its listeners itself; the hook learns the address so
	// that -addr 127.0.0.1:0 can report the port it got.
	var mu sync.Mutex
	var bound []net.Addr
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{*addr},
		Handler: mux,
		Listen: func(network, a string) (net.Listener, error) {
			ln, err := net.Listen(network, a)
			if err == nil {
				mu.Lock()
				bound = append(bound, ln.Addr())
				mu.Unlock()
			}
			return ln, err
		},
		ReleaseWebsocketPayload: true,
	})
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	if len(bound) == 0 {
		log.Fatal("echo-nbio: engine started without a listener")
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", bound[0])
	mu.Unlock()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	engine.Stop()
}
