package rawws_test

import (
	nethttp "net/http"
	"testing"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// A WebSocket route inside a net/http mux mounted on a Server with
// App.HandleNetHTTP: the handler's hijacked connection is the HTTP
// server's own (no descriptor of its own), so the session runs on the
// goroutine path and echoes, with the frames the client pipelined behind
// its request, on every backend; Server.UpgradeHTTP and the package's
// UpgradeHTTP alike.
func TestUpgradeHTTPThroughHandleNetHTTP(t *testing.T) {
	for _, backend := range srvBackends(t) {
		t.Run(backend, func(t *testing.T) {
			errs := make(chan error, 8)
			var srv *rawws.Server
			mux := nethttp.NewServeMux()
			opts := rawws.UpgradeOptions{Options: rawws.Options{MessageHandler: echoMessages}}
			mux.HandleFunc("/ws", func(w nethttp.ResponseWriter, r *nethttp.Request) {
				_, err := rawws.UpgradeHTTP(w, r, opts)
				errs <- err
			})
			mux.HandleFunc("/tracked", func(w nethttp.ResponseWriter, r *nethttp.Request) {
				_, err := srv.UpgradeHTTP(w, r, opts)
				errs <- err
			})
			srv, err := rawws.NewServer(func(a *rawws.App) { a.HandleNetHTTP("/", mux) }, rawws.WithBackend(backend))
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
