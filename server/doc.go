// Package server composes rawws into a server: the native HTTP/1.1 server
// of package http answers requests and WebSocket handshakes on the event
// loops, and each upgrade (rawws.Accept) becomes a rawws.Session of the
// server's rawws.Group.
//
// # Where to start
//
//	you have                              use
//	nothing yet: a server of its own      Embedded(EmbeddedConfig{...}, module): routes on an App
//	a net.Listener (systemd, tests, ...)  Serve(ln, endpoint, cfg): every request a handshake
//	routes, your listener, your lifecycle New(module, cfg), then Server.Serve(ln)
//	a net.Conn from your own accept loop  Server.ServeConn(c, bytesAlreadyRead)
//	a net/http server beside it           rawws.UpgradeHTTP with Options.Group = Server.Group()
//
// One Config configures every entry point; its zero value is the safe
// default (a new engine of http.DefaultBackend, the HTTP server's limits),
// and fields that contradict each other are an error, never ignored.
//
// # Ownership and shutdown
//
// A server owns what it starts: Serve, Server.Serve and Embedded take the
// listener over and close it on Shutdown; an engine given in Config.Engine
// stays the caller's, one the server started is shut down with it. A
// session belongs to the server's Group from its handshake until its
// connection is gone. Shutdown stops accepting, drains the Group (Close
// 1001 behind the frames already queued, a wait for the close handshakes
// and the HTTP requests in flight) and closes what is left when its
// context ends. Server.Metrics (one server) and Stats (the process,
// published with expvar as ExpvarName) add the HTTP-level counts to the
// Group's.
package server
