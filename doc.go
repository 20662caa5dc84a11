// Package rawws is a WebSocket (RFC 6455) engine for Linux event loops: very
// many connections at a low cost per connection, per message and per byte.
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
package rawws
