// Command echo-gobwas is a WebSocket echo server built on gobwas/ws's
// low-level API, a peer for the conformance suite and the benchmarks.
// wsutil.Reader reassembles each message (answering control frames met
// between fragments, checking UTF-8 as it reads); the message is then
// echoed with its opcode. Errors are mapped to the close codes of RFC 6455
// §7.4.1 here because gobwas leaves failing the connection to the caller.
//
//	echo-gobwas -addr 127.0.0.1:9001
//
// It prints "listening on ADDR" once it accepts connections.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

const maxMessage = 32 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	// Reads go through one buffer, from the handshake on, as gobwas
	// advises: wsutil.Reader reads a header in small pieces and would
	// otherwise make several syscalls per frame.
	br := bufio.NewReaderSize(c, 64<<10)
	if _, err := (ws.Upgrader{}).Upgrade(struct {
		io.Reader
		io.Writer
	}{br, c}); err != nil {
		return
	}
	control := wsutil.ControlFrameHandler(c, ws.StateServerSide)
	r := &wsutil.Reader{
		Source:         br,
		State:          ws.StateServerSide,
		CheckUTF8:      true,
		MaxFrameSize:   maxMessage,
		OnIntermediate: control,
	}
	for {
		h, err := r.NextFrame()
		if err != nil {
			fail(c, err)
			return
		}
		if h.OpCode.IsControl() {
			if err := control(h, r); err != nil {
				var closed wsutil.ClosedError
				if !errors.As(err, &closed) {
					fail(c, err)
				}
				return
			}
			continue
		}
		p, err := io.ReadAll(io.LimitReader(r, maxMessage+1))
		if err == nil && len(p) > maxMessage {
			err = wsutil.ErrFrameTooLarge
		}
		if err != nil {
			fail(c, err)
			return
		}
		if err := wsutil.WriteServerMessage(c, h.OpCode, p); err != nil {
			return
		}
	}
}

// fail sends the close frame that matches err, when there is one.
func fail(c net.Conn, err error) {
	var code ws.StatusCode
	var perr ws.ProtocolError
	var closed wsutil.ClosedError
	switch {
	case errors.As(err, &closed):
		return // the control handler already answered
	case errors.Is(err, wsutil.ErrInvalidUTF8):
		code = ws.StatusInvalidFramePayloadData
	case errors.Is(err, wsutil.ErrFrameTooLarge):
		code = ws.StatusMessageTooBig
	case errors.As(err, &perr):
		code = ws.StatusProtocolError
	default:
		return // I/O error: nothing to say
	}
	_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
}
