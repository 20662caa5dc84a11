package rawws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// Blocking mode: a streaming echo server written as a read loop (each
// message copied from its Reader into a Writer as it arrives, whatever its
// size) and a client reading whole messages with Read.
func ExampleSession_Reader() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	peerClose := make(chan frame.CloseCode, 1)
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		s, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{Blocking: true}})
		if err != nil {
			return
		}
		ctx := context.Background()
		for {
			op, msg, err := s.Reader(ctx)
			if err != nil {
				var ce *rawws.CloseError
				if errors.As(err, &ce) {
					peerClose <- ce.Code
				}
				return
			}
			out, err := s.Writer(ctx, op)
			if err != nil {
				return
			}
			io.Copy(out, msg)
			out.Close()
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	c, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Options: rawws.Options{Blocking: true}})
	if err != nil {
		panic(err)
	}
	w, _ := c.Writer(ctx, frame.OpText)
	io.Copy(w, strings.NewReader(strings.Repeat("stream ", 10000))) // 70 kB: three fragments
	w.Close()
	op, p, err := c.Read(ctx)
	fmt.Println(op, len(p), err)

	c.CloseWith(ctx, frame.CloseReason{Code: frame.CloseNormal})
	fmt.Println("server: peer closed with", int(<-peerClose))
	<-c.Done()
	// Output:
	// text 70000 <nil>
	// server: peer closed with 1000
}
