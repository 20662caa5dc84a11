package rawws_test

import (
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"strings"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// permessage-deflate on both ends: the server compresses its echoes without
// context takeover (nothing kept per connection between messages), the
// client keeps its context. Both message handlers see plain messages.
func ExampleCompression() {
	echo := rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
		s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: p})
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Backend: "std", Options: rawws.Options{
			MessageHandler: echo,
			Compression:    &rawws.Compression{ServerNoContextTakeover: true},
		}})
	})}
	go srv.Serve(ln)
	defer srv.Close()

	got := make(chan string, 1)
	ctx := context.Background()
	s, _, err := rawws.Dial(ctx, "ws://"+ln.Addr().String()+"/", rawws.DialOptions{Backend: "std", Options: rawws.Options{
		MessageHandler: rawws.MessageFuncs{Message: func(s *rawws.Session, op frame.Opcode, p []byte) { got <- string(p) }},
		Compression:    &rawws.Compression{ClientMaxWindowBits: 15},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Extensions())
	s.SendText(ctx, strings.Repeat("compressible ", 100))
	fmt.Println(len(<-got))
	s.CloseWith(ctx, frame.CloseReason{Code: frame.CloseNormal})
	// Output:
	// permessage-deflate; server_no_context_takeover
	// 1300
}
