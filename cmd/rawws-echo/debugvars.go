package main

import (
	"expvar"
	nethttp "net/http"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/poller"
)

// newTracker is a rawws.Server without routes of its own: the echo
// server's upgrades go through it so that its counters (rawws.Stats,
// published by expvar as "rawws") cover them.
func newTracker(eng poller.Engine) *rawws.Server {
	ws, err := rawws.NewServer(nil, rawws.WithEngine(eng))
	if err != nil {
		panic(err) // only an unknown backend fails, and eng is given
	}
	return ws
}

// withDebugVars serves expvar's GET /debug/vars (the "rawws" counters,
// memstats, cmdline) in front of h.
func withDebugVars(h nethttp.Handler) nethttp.Handler {
	mux := nethttp.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.Handle("/", h)
	return mux
}
