package main

import (
	"context"
	"expvar"
	nethttp "net/http"
	"net/http/pprof"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// echoMessages echoes every message with its opcode. The payload is a view
// valid during the callback, so SendCopy copies it when it cannot be
// written at once.
var echoMessages = rawws.MessageFuncs{
	Message: func(s *rawws.Session, op frame.Opcode, payload []byte) {
		s.SendCopy(context.Background(), frame.Frame{Fin: true, Opcode: op, Payload: payload})
	},
}

// echoFrames echoes raw frames as they come: fragments stay fragments and
// control frames (ping, pong, close) are sent back unchanged.
var echoFrames = rawws.HandlerFuncs{
	Frame: func(s *rawws.Session, f frame.Frame) {
		s.SendCopy(context.Background(), f)
	},
}

// config is what the flags choose.
type config struct {
	backend     string
	maxMessage  int64              // 0: the session default
	compression *rawws.Compression // nil: no permessage-deflate
	pprof       bool
}

// maxBody caps a request body for POST /echo and /multipart.
const maxBody = 64 << 20

// newServer builds the echo server on rawws's own HTTP server: a WebSocket
// upgrade on any path echoes messages (/raw echoes raw frames, /broadcast
// sends each message to every client of that path), and plain
// HTTP requests go to httpRoutes, /debug/vars (expvar, with the "rawws"
// counters) and, with -pprof, /debug/pprof/.
func newServer(cfg config) (*server.Server, error) {
	plain := httpRoutes()
	plain.Handle("/debug/vars", rhttp.FromNetHTTP(expvar.Handler()))
	if cfg.pprof {
		plain.Handle("/debug/pprof/", rhttp.FromNetHTTP(nethttp.HandlerFunc(pprof.Index)))
		plain.Handle("/debug/pprof/profile", rhttp.FromNetHTTP(nethttp.HandlerFunc(pprof.Profile)))
		plain.Handle("/debug/pprof/symbol", rhttp.FromNetHTTP(nethttp.HandlerFunc(pprof.Symbol)))
		plain.Handle("/debug/pprof/trace", rhttp.FromNetHTTP(nethttp.HandlerFunc(pprof.Trace)))
	}
	// /broadcast: every message a client sends goes to every client of the
	// path (the sender included), encoded once; a subscriber that does not
	// keep up loses messages rather than holding the others.
	hub := rawws.NewHub(rawws.HubOptions{SlowPolicy: rawws.SlowDrop, Writers: 2})
	fanout := rawws.MessageFuncs{
		Open: func(s *rawws.Session) { hub.Subscribe("broadcast", s) },
		Message: func(s *rawws.Session, op frame.Opcode, p []byte) {
			hub.Publish("broadcast", op, p)
		},
	}
	module := func(app *server.App) {
		app.Endpoint("/broadcast", server.Endpoint{
			Options:     rawws.Options{MessageHandler: fanout, MaxMessageSize: cfg.maxMessage},
			CheckOrigin: anyOrigin,
			NotUpgrade:  plain,
		})
		// /raw stays without the extension: echoing a compressed frame as
		// it came is only right when neither side keeps context.
		app.Endpoint("/raw", server.Endpoint{
			Options:     rawws.Options{Handler: echoFrames},
			CheckOrigin: anyOrigin,
			NotUpgrade:  plain,
		})
		app.Endpoint("/", server.Endpoint{
			Options:     rawws.Options{MessageHandler: echoMessages, MaxMessageSize: cfg.maxMessage, Compression: cfg.compression},
			CheckOrigin: anyOrigin,
			NotUpgrade:  plain,
		})
	}
	return server.New(module, server.Config{Backend: cfg.backend, HTTP: rhttp.Settings{MaxBodyBytes: maxBody}})
}

// anyOrigin accepts every Origin: an echo server for tests and benchmarks
// has nothing to protect.
func anyOrigin(string) bool { return true }
