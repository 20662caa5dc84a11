// Package rawws is a WebSocket (RFC 6455) engine for Linux event loops: very
// many connections at a low cost per connection, per message and per byte.
//
// # Where to start
//
// Pick the entry point by what you already have:
//
//	you have                              use
//	nothing yet: a server of its own      EmbeddedServer(backend, ServerConfig{...}, module):
//	                                      HTTP routes and WebSocket endpoints on an App
//	a net.Listener (systemd, tests, ...)  Serve(ln, handler, opts...): every request a handshake
//	routes, your listener, your lifecycle NewServer(module, opts...), then Server.Serve(ln)
//	a net.Conn from your own accept loop  Server.ServeConn(c, bytesAlreadyRead)
//	a net/http server                     UpgradeHTTP(w, r, opts) in a handler, or
//	                                      Server.UpgradeHTTP to get the drain and the metrics too
//	a connection on a poller engine       NewRawSession / NewSession (after your own handshake)
//	to be the client                      Dial
//
// Every server path ends in the same Session. To stop without losing a
// message, call Server.Shutdown(ctx): it stops accepting, sends Close 1001
// to every session behind the frames already queued for it, waits for the
// close handshakes and the HTTP requests in flight, and closes what is left
// when ctx ends. Server.Metrics (one server) and Stats (the process,
// published with expvar as "rawws") count connections, frames, bytes,
// queue high-water marks, drops and protocol errors, with per-session
// atomic counters and no lock on the per-frame path.
//
// # Backends
//
// The event loops come from package poller; import a backend to register
// it (the root package registers all three on Linux):
//
//   - epoll (the default on Linux): golang.org/x/sys/unix, true read
//     pause, no input buffer per idle connection: the least memory per
//     connection (290–440 B per idle upgraded connection against 8 KB on
//     netpoll) and the faster echo in bench/RESULTS.md.
//   - netpoll: cloudwego/netpoll. It cannot stop the kernel reading, so a
//     paused session is bounded by the engine's input cap (it is closed
//     past it) instead of TCP backpressure; pick it where cloudwego's
//     stack is already in use.
//   - std: net.Conn and a goroutine per connection; any OS, TLS, net.Pipe.
//
// An upgraded connection leaves no goroutine behind on netpoll and epoll
// (UpgradeHTTP moves it off net/http's goroutine, keeping the bytes the
// client pipelined behind its request); goroutines exist only for
// channel-mode sessions, which ask for them, and for connections no event
// loop can take: a *tls.Conn from net/http's TLS server, or any net.Conn
// without a socket descriptor, is served on std instead of being refused.
//
// # Open files
//
// Every connection is one file descriptor, so the process's open-file
// limit caps the number of sessions. Go raises the soft limit to the hard
// limit at start-up; raise the hard one (ulimit -Hn, systemd's
// LimitNOFILE) for servers with more connections than it allows. A server
// and its clients in one process (tests) need two descriptors per session.
//
// # Sessions
//
// A Session is one connection, running on a poller engine (netpoll, epoll or
// std). Its API follows Ktor's RawWebSocket; the mapping is:
//
//	RawWebSocket(...)       NewRawSession(conn, Options{...}), UpgradeHTTP, Dial
//	incoming                Incoming()         bounded; a full queue pauses reading
//	outgoing, send(frame)   Outgoing(), Send   bounded in frames and bytes; Send blocks
//	masking                 SetMasking         read when a frame is written
//	maxFrameSize            SetMaxFrameSize    checked on the header: Close 1009
//	flush()                 Flush              every earlier frame is in the socket
//	close(cause)            Close(cause)       nil = Terminate
//	close(reason)           CloseWith          Close frame, then Flush
//	terminate()             Terminate          write the queue, then FIN
//	start(handler)          Start
//	pinger / ponger         Pinger / Ponger    timers on the engine's wheel
//	embeddedServer(...)     EmbeddedServer     the factory is the backend name
//
// # Three ways to receive
//
// Channel mode (no handler): raw frames on Incoming, each owning its
// payload. Frames are raw: fragments keep Fin=false, ping, pong and close
// are frames like the others, and nothing is answered automatically.
//
// Frame event mode (Options.Handler): the same raw frames handed to
// Handler.OnFrame on the connection's event loop; an idle connection has no
// goroutine. The payload is a view into the loop's buffer, valid until the
// callback returns.
//
// Message mode (NewSession, Options.MessageHandler): what most applications
// want. Fragments are reassembled (up to Options.MaxMessageSize, default
// 16 MiB), text is validated as UTF-8 as it arrives, pings are answered,
// the close handshake is completed, and every protocol error is answered
// with its RFC 6455 close code (1002, 1007, 1009) before the connection is
// closed.
//
// # Ownership and blocking
//
// Send takes ownership of the payload until the frame is written (Flush
// returning says when): nothing is copied for unmasked frames, and masked
// frames are masked into pooled buffers, never in place. SendCopy and
// WriteMessage copy when the frame cannot be written at once, so they suit
// payloads that are only views (event callbacks).
//
// In channel mode Send blocks the calling goroutine while the queue is
// full; in event modes it never blocks and applies Options.QueueFull.
// Nothing the session does on the event loop blocks: a full Incoming pauses
// reading instead of waiting, and writes are queued for the writer.
//
// A server owns what it starts: Serve, Server.Serve and EmbeddedServer
// take the listener over and close it on Shutdown; an engine given with
// WithEngine stays the caller's, one the server started is shut down with
// it. A session belongs to its server's registry from its handshake until
// its connection is gone.
package rawws
