package main

import (
	"context"
	"log"
	nethttp "net/http"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// echoMessages echoes every message with its opcode. The payload is a view
// valid during the callback, so WriteMessage copies it when it cannot be
// written at once.
var echoMessages = rawws.MessageFuncs{
	Message: func(s *rawws.Session, op frame.Opcode, payload []byte) {
		s.WriteMessage(context.Background(), op, payload)
	},
}

// echoFrames echoes raw frames as they come: fragments stay fragments and
// control frames (ping, pong, close) are sent back unchanged.
var echoFrames = rawws.HandlerFuncs{
	Frame: func(s *rawws.Session, f frame.Frame) {
		s.SendCopy(context.Background(), f)
	},
}

// compression is what the message paths negotiate (nil: no
// permessage-deflate); main sets it from the flags.
var compression = &rawws.Compression{}

// newHandler is the server's whole behaviour, independent of how HTTP is
// served: GET /healthz answers 200, /raw echoes raw frames, every other
// path echoes messages, GET /debug/vars serves the expvar counters.
// maxMessage caps a message (0: the default).
func newHandler(eng poller.Engine, maxMessage int64) nethttp.Handler {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	ws := newTracker(eng)
	upgrade := func(opts rawws.Options) nethttp.HandlerFunc {
		return func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if _, err := ws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: opts, Engine: eng, CheckOrigin: anyOrigin}); err != nil {
				log.Printf("upgrade %s: %v", r.RemoteAddr, err)
			}
		}
	}
	mux.Handle("/raw", upgrade(rawws.Options{Handler: echoFrames}))
	// /raw stays without the extension: echoing a compressed frame as it
	// came is only right when neither side keeps context.
	mux.Handle("/", upgrade(rawws.Options{MessageHandler: echoMessages, MaxMessageSize: maxMessage, Compression: compression}))
	return withDebugVars(mux)
}

// anyOrigin accepts every Origin: an echo server for tests and benchmarks
// has nothing to protect.
func anyOrigin(*nethttp.Request) bool { return true }
