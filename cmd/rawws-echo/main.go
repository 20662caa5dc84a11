// Command rawws-echo is a WebSocket and HTTP echo server on rawws's own
// engine and HTTP/1.1 server. A WebSocket upgrade on any path echoes
// messages (text and binary, each with its opcode); /raw echoes raw frames
// as they come; /broadcast publishes each message to every client of that
// path. Plain HTTP: GET /healthz, POST /echo, GET /bytes/N (with
// Range), POST /multipart and GET /debug/vars (expvar, with the "rawws"
// counters). It prints exactly one line, "listening on ADDR", once it
// accepts connections, and drains gracefully on SIGINT or SIGTERM (Close
// 1001 to every session, in-flight requests finished).
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
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rawws/rawws"
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
	_ "github.com/rawws/rawws/poller/std"
	"github.com/rawws/rawws/server"
)

func main() {
	// The port is spelled out here: no layer below picks one (port 0
	// would mean a free one, printed on the "listening on" line).
	addr := flag.String("addr", "127.0.0.1:9001", "listen address host:port (port 0: a free one, printed at start)")
	var cfg config
	flag.StringVar(&cfg.backend, "backend", "", "poller backend: netpoll, epoll or std (default: rawws's default)")
	flag.Int64Var(&cfg.maxMessage, "max-message", 0, "largest message in bytes (0: the 16 MiB default)")
	flag.BoolVar(&cfg.pprof, "pprof", false, "serve /debug/pprof/")
	withDeflate := flag.Bool("deflate", true, "accept permessage-deflate (RFC 7692) on the message paths")
	noTakeover := flag.Bool("deflate-no-takeover", false, "with -deflate: no context takeover either way (least memory per connection)")
	drain := flag.Duration("drain", 10*time.Second, "how long a graceful shutdown waits for sessions to close")
	flag.Parse()
	switch {
	case !*withDeflate:
	case *noTakeover:
		cfg.compression = &rawws.Compression{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	default:
		cfg.compression = &rawws.Compression{}
	}
	if err := run(*addr, cfg, *drain); err != nil {
		fmt.Fprintln(os.Stderr, "rawws-echo:", err)
		os.Exit(1)
	}
}

func run(addr string, cfg config, drain time.Duration) error {
	srv, err := newServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, server.ErrServerClosed) {
		srv.Close()
		return err
	}
	<-srv.Done()
	return nil
}
