// Command rawws-benchserver serves a fixed body for load tests of the HTTP
// server, either ours or net/http's, so wrk can compare them in one run:
//
//	go run ./cmd/rawws-benchserver -impl rawws -addr 127.0.0.1:8081 -size 13
//	go run ./cmd/rawws-benchserver -impl nethttp -addr 127.0.0.1:8082 -size 13
//
// Every path answers 200 with -size bytes of text/plain.
package main

import (
	"bytes"
	"flag"
	"log"
	"net"
	nethttp "net/http"
	"strconv"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/epoll"
	_ "github.com/rawws/rawws/poller/netpoll"
	_ "github.com/rawws/rawws/poller/std"
)

func main() {
	impl := flag.String("impl", "rawws", "rawws or nethttp")
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	size := flag.Int("size", 13, "response body size in bytes")
	backend := flag.String("backend", "netpoll", "poller backend for rawws")
	inline := flag.Bool("inline", true, "run the rawws handler on the event loop")
	flag.Parse()

	body := []byte("Hello, World!")
	if *size != len(body) {
		body = bytes.Repeat([]byte("x"), *size)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	switch *impl {
	case "nethttp":
		cl := strconv.Itoa(len(body))
		log.Fatal(nethttp.Serve(ln, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", cl)
			w.Write(body)
		})))
	case "rawws":
		eng, err := poller.New(*backend, poller.Config{})
		if err != nil {
			log.Fatal(err)
		}
		var h rhttp.Handler = rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})
		srv := rhttp.NewServer(rhttp.Settings{Engine: eng, InlineHandlers: *inline}, h)
		log.Fatal(srv.Serve(ln))
	default:
		log.Fatalf("unknown -impl %q", *impl)
	}
}
