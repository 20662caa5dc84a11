// Command echo-gws is a WebSocket echo server built on lxzan/gws, a peer
// for the conformance suite and the benchmarks. Messages are echoed with
// their opcode after gws reassembled them; gws checks UTF-8 itself
// (CheckUtf8Enabled) and answers pings with their payload.
//
//	echo-gws -addr 127.0.0.1:9001
//
// It prints "listening on ADDR" once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/lxzan/gws"
)

type handler struct{ gws.BuiltinEventHandler }

// OnPing answers with the ping's payload (the built-in handler sends an
// empty pong, which RFC 6455 §5.5.3 does not allow).
func (handler) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := gws.NewServer(handler{}, &gws.ServerOption{
		ReadMaxPayloadSize:  32 << 20,
		WriteMaxPayloadSize: 32 << 20,
		CheckUtf8Enabled:    true,
	})
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	log.Fatal(srv.RunListener(ln))
}
