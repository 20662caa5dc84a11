// Command rawws-echo is a WebSocket echo server: every path echoes
// messages (text and binary, each with its opcode), /raw echoes raw frames
// as they come, GET /healthz answers 200 and GET /debug/vars serves the
// expvar counters ("rawws": connections, frames, bytes, drops). It prints exactly one line,
// "listening on ADDR", once it accepts connections.
//
//	rawws-echo -addr 127.0.0.1:9001 [-backend netpoll|std|epoll] [-max-message N] [-pprof]
//	           [-deflate=false] [-deflate-no-takeover]
//
// permessage-deflate (RFC 7692) is accepted on the message paths unless
// -deflate=false, since browsers offer it; echoes are then compressed.
// -deflate-no-takeover answers with server_no_context_takeover and
// client_no_context_takeover, so a connection keeps no compressor state
// between messages.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	nethttp "net/http"
	"net/http/pprof"
	"os"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
	_ "github.com/rawws/rawws/poller/std"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	backend := flag.String("backend", "netpoll", "poller backend: netpoll, epoll or std")
	maxMessage := flag.Int64("max-message", 0, "largest message in bytes (0: the 16 MiB default)")
	withPprof := flag.Bool("pprof", false, "serve /debug/pprof/")
	withDeflate := flag.Bool("deflate", true, "accept permessage-deflate (RFC 7692) on the message paths")
	noTakeover := flag.Bool("deflate-no-takeover", false, "with -deflate: no context takeover either way (least memory per connection)")
	flag.Parse()
	switch {
	case !*withDeflate:
		compression = nil
	case *noTakeover:
		compression = &rawws.Compression{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	}
	if err := run(*addr, *backend, *maxMessage, *withPprof); err != nil {
		fmt.Fprintln(os.Stderr, "rawws-echo:", err)
		os.Exit(1)
	}
}

func run(addr, backend string, maxMessage int64, withPprof bool) error {
	eng, err := poller.New(backend, poller.Config{})
	if err != nil {
		return err
	}
	defer eng.Close()
	h := newHandler(eng, maxMessage)
	if withPprof {
		mux := nethttp.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/", h)
		h = mux
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.SetOutput(os.Stderr)
	return (&nethttp.Server{Handler: h}).Serve(ln)
}
