package server_test

import (
	nethttp "net/http"
	"testing"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// A WebSocket route inside a net/http mux mounted on a Server with
// App.HandleNetHTTP: the handler's hijacked connection is the HTTP
// server's own (no descriptor of its own), so the session runs on the
// goroutine path and echoes, with the frames the client pipelined behind
// its request, on every backend; UpgradeHTTP with and
// without the server's Group.
func TestUpgradeHTTPThroughHandleNetHTTP(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			errs := make(chan error, 8)
			var srv *server.Server
			mux := nethttp.NewServeMux()
			opts := rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: echoMessages}}
			mux.HandleFunc("/ws", func(w nethttp.ResponseWriter, r *nethttp.Request) {
				_, err := rawws.UpgradeHTTP(w, r, opts)
				errs <- err
			})
			mux.HandleFunc("/tracked", func(w nethttp.ResponseWriter, r *nethttp.Request) {
				tracked := opts
				tracked.Engine, tracked.Group = srv.Engine(), srv.Group()
				_, err := rawws.UpgradeHTTP(w, r, tracked)
				errs <- err
			})
			srv, err := server.New(func(a *server.App) { a.HandleNetHTTP("/", mux) }, server.Config{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ln := listenLocal(t)
			go srv.Serve(ln)
			for _, path := range []string{"/ws", "/tracked"} {
				c := dialWS(t, ln.Addr().String(), path, clientFrame(frame.OpText, []byte("pipelined")))
				if err := <-errs; err != nil {
					t.Fatalf("%s: UpgradeHTTP: %v", path, err)
				}
				c.expect(t, frame.OpText, "pipelined")
				c.send(t, frame.OpBinary, []byte(path))
				c.expect(t, frame.OpBinary, path)
				c.c.Close()
			}
		})
	}
}
