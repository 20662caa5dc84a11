// Package netpoll is a poller backend on Linux, built on
// github.com/cloudwego/netpoll v0.7.2: netpoll's pollers read every socket
// into its own buffer and run the handler on a pooled goroutine only while
// bytes are there, so an idle connection owns no goroutine.
//
// Import it for its side effect and select it by name:
//
//	import _ "github.com/rawws/rawws/poller/netpoll"
//	eng, err := poller.New("netpoll", poller.Config{})
//
// What this backend adds on top of netpoll, and why:
//
//   - Reads never block: the handler is offered exactly the bytes netpoll
//     has buffered. Bytes it leaves unconsumed move to a small per-connection
//     carry buffer and netpoll's buffer is always emptied, because netpoll
//     calls OnRequest in a loop for as long as its buffer is not empty.
//   - netpoll cannot stop reading a socket. While paused the bytes pile up
//     in the carry buffer; past Config.MaxInput the connection is closed
//     with poller.ErrInputLimit. Bytes that come while an unpaused handler
//     runs on another goroutine wait for it whatever their number, as they
//     would in netpoll's own buffer: a late goroutine is not the peer's
//     fault.
//   - Writes never block the caller or the loop. Whoever finds the
//     connection without a backlog writes straight to the non-blocking
//     socket (one writev, under a per-connection lock so a concurrent close
//     cannot recycle the descriptor); what the kernel does not take is
//     copied to a queue, and the socket is armed one-shot on a small epoll
//     instance of the engine's own, whose single goroutine writes the
//     backlog when the socket has room. netpoll's Writer, which is not safe
//     for concurrent use and whose Flush parks the caller, is never used.
//   - Accepting runs in one goroutine per listener with accept4 on Go's
//     poller (the listener is any net.Listener with a file descriptor), so
//     Shutdown can wait for live connections instead of netpoll's server
//     closing the idle ones. Adopt and Dial duplicate the descriptor of a
//     *net.TCPConn or *net.UnixConn; other net.Conns (TLS, pipes) are
//     refused with errors.ErrUnsupported: use the std backend for them.
//   - Addresses are recorded at accept or adopt time, so they are never nil.
//   - Close shuts the socket down (FIN) and lets netpoll's poller close it,
//     the same path as a peer's hang-up: calling netpoll's Close from
//     another goroutine raced with a hang-up being handled and, under load,
//     closed the next connection that reused the descriptor number.
//   - netpoll closes a socket as soon as the peer's FIN arrives
//     (EPOLLRDHUP), with no setting to keep it half-open. Just before it
//     does, in the close callback, this backend duplicates the descriptor
//     (F_DUPFD_CLOEXEC: the socket lives on, only netpoll's descriptor
//     goes) and writes through the duplicate from then on: queued output
//     is still written, and a poller.HalfCloseHandler that keeps writing
//     is answered in full. Bytes netpoll read before the FIN are offered
//     before OnReadEOF and OnClose. If the duplicate cannot be made
//     (EMFILE), queued bytes fail Flush and a handler that asked to keep
//     writing gets OnClose with an error saying its answer cannot be sent.
//     Once netpoll let go, a reset of an idle half-open connection is seen
//     at its next write (a backlog sees it at once, on the write poller).
//
// netpoll's pollers are shared by the whole process; Config.Loops is
// ignored (netpoll sizes them from GOMAXPROCS).
package netpoll
