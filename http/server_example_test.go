package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"time"

	rhttp "github.com/rawws/rawws/http"
)

func Example() {
	mux := rhttp.NewServeMux()
	// Small, never-blocking handlers run on the event loop.
	mux.HandleNonBlocking("/hello", rhttp.HandlerFunc(func(w *rhttp.ResponseWriter, r *rhttp.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteString("hello, " + r.Header.Get("User-Agent"))
	}))
	// Anything else runs on a goroutine and may block.
	mux.HandleFunc("/slow", func(w *rhttp.ResponseWriter, r *rhttp.Request) {
		time.Sleep(time.Millisecond)
		w.WriteString("done")
	})

	srv := rhttp.NewServer(rhttp.Settings{IdleTimeout: 30 * time.Second}, mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	req, _ := nethttp.NewRequest("GET", "http://"+ln.Addr().String()+"/hello", nil)
	req.Header.Set("User-Agent", "example")
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello, example
}
