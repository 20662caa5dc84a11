// Package rawws is the WebSocket (RFC 6455) session API of a Linux
// event-loop engine: very many connections at a low cost per connection,
// per message and per byte. It holds the Session in all its modes, the
// message layer, send/flush/close, pinger and ponger, Dial, the upgrades
// (UpgradeHTTP for net/http, Accept for the module's own HTTP server),
// prepared frames, the hub and broadcast, compression and masking. A server
// built of these parts, with routes, endpoints, listeners, shutdown and
// exported metrics, is package server.
//
// # Where to start
//
// Pick the entry point by what you already have:
//
//	you have                              use
//	a net/http server                     UpgradeHTTP(w, r, opts) in a handler
//	a handler of package http             Accept(w, r, opts): the upgrade in place, on the loop
//	a connection on a poller engine       NewRawSession / NewSession (after your own handshake)
//	to be the client                      Dial
//	nothing yet: a server of its own      package server (Embedded, New, Serve)
//
// Every path ends in the same Session. A Group (Options.Group) gathers
// sessions from any of them: it counts their connections, frames, bytes,
// queue high-water marks, drops and protocol errors (Group.Stats, with
// per-session atomic adds and no lock on the per-frame path) and closes them
// without losing a message (Group.Drain: Close 1001 to every session behind
// the frames already queued for it, a wait for the close handshakes, then
// the rest closed when the context ends).
//
// # Backends
//
// The event loops come from package poller. The package links two: epoll
// on Linux (golang.org/x/sys/unix, true read pause, no input buffer per
// idle connection: 290–440 B per idle upgraded connection, and the faster
// echo in bench/RESULTS.md) and std (net.Conn and a goroutine per
// connection; any OS, TLS, net.Pipe). EngineFor("") is the shared engine
// of http.DefaultBackend: epoll on Linux, std elsewhere. cloudwego/netpoll
// is linked only into a program that imports poller/netpoll; it cannot stop
// the kernel reading, so a paused session is bounded by the engine's input
// cap (it is closed past it) instead of TCP backpressure.
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
// A Session is one connection, running on a poller engine. Its API follows
// Ktor's RawWebSocket; the mapping is:
//
//	RawWebSocket(...)       NewRawSession(conn, Options{...}), UpgradeHTTP, Accept, Dial
//	incoming                Incoming()         bounded; a full queue pauses reading
//	outgoing, send(frame)   Outgoing(), Send   bounded in frames and bytes; Send blocks
//	masking                 SetMasking         read when a frame is written
//	maxFrameSize            SetMaxFrameSize    checked on the header: Close 1009
//	flush()                 Flush              every earlier frame is in the socket
//	close(cause)            Close(cause)       nil = Terminate
//	close(reason)           CloseWith          Close frame, then Flush
//	terminate()             Terminate          write the queue, then FIN
//	send(String/ByteArray)  SendText, SendBinary  one final frame each
//	start(handler)          Start
//	pinger / ponger         Pinger / Ponger    timers on the engine's wheel
//	embeddedServer(...)     server.Embedded    the factory is Config.Backend
//
// # Four ways to receive, and what each costs per idle connection
//
// Channel mode (no handler): raw frames on Incoming, each owning its
// payload. Frames are raw: fragments keep Fin=false, ping, pong and close
// are frames like the others, and nothing is answered automatically. Idle,
// it costs its channels and, in whoever consumes them, a goroutine parked
// on Incoming (its stack, 8 KiB or more).
//
// Frame event mode (Options.Handler): the same raw frames handed to
// Handler.OnFrame on the connection's event loop; an idle connection has no
// goroutine. The payload is a view into the loop's buffer, valid until the
// callback returns. Idle, it costs the Session alone (80 B).
//
// Message mode (NewSession, Options.MessageHandler): what most applications
// want. Fragments are reassembled (up to Options.MaxMessageSize, default
// 16 MiB), text is validated as UTF-8 as it arrives, pings are answered,
// the close handshake is completed, and every protocol error is answered
// with its RFC 6455 close code (1002, 1007, 1009) before the connection is
// closed. Idle, it costs the Session alone, as frame event mode.
//
// Blocking mode (Options.Blocking): message mode's rules for
// goroutine-style code, as gorilla's ReadMessage and NextReader users
// write it: Read returns the next whole message, Reader an io.Reader of
// the next one that yields it as its frames arrive (a message of any size
// streams through at most 64 KiB of session memory, with the connection
// paused while the reader does not keep up, so TCP pushes back on the
// peer), Writer an io.WriteCloser sending one message in fragments, and
// NetConn a net.Conn view. Send blocks while the queue is full. Idle, it
// costs about 500 B of session state plus the goroutine parked in Read
// (its stack, 8 KiB or more): more than ten times the event modes, which
// is why they remain the engine's way to hold very many connections.
//
// # Sending: one ownership rule per method
//
//	Send(ctx, f)            f.Payload passes to the session until written (Flush says when); no copy
//	SendText(ctx, s)        a string: nothing to give up, no copy
//	SendBinary(ctx, b)      as Send, for one final binary frame
//	SendCopy(ctx, f)        the caller keeps f.Payload: copied only if it cannot be written at once
//	SendPrepared(ctx, pf)   pf stays the caller's; the session holds a reference until written
//	Outgoing() <- f         as Send, through a channel drained by one goroutine
//	Flush(ctx)              returns once every frame sent before it is in the socket
//
// Masked frames are masked into pooled buffers, never in place. In channel
// mode Send blocks the calling goroutine while the queue is full; in event
// modes it never blocks and applies Options.QueueFull. Nothing the session
// does on the event loop blocks: a full Incoming pauses reading instead of
// waiting, and writes are queued for the writer.
package rawws
