// Command http-fasthttp serves a fixed body with valyala/fasthttp, the
// peer in the HTTP comparison (bench/http-compare.sh). Every path answers
// 200 with -size bytes of text/plain, like rawws's benchserver.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8083", "listen address")
	size := flag.Int("size", 13, "response body size in bytes")
	flag.Parse()
	body := []byte("Hello, World!")
	if *size != len(body) {
		body = bytes.Repeat([]byte("x"), *size)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
	}
	log.Fatal(s.Serve(ln))
}
