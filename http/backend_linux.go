package http

// On Linux the server's own engine is the epoll loop, whichever package
// the program imports: linking it here makes the documented default the
// real one. netpoll is never linked from here (see DefaultBackend).
import _ "github.com/rawws/rawws/poller/epoll"

// DefaultBackend is the poller backend a Server starts when
// Settings.Engine and Settings.Backend are unset: "epoll" on Linux, "std"
// elsewhere.
const DefaultBackend = "epoll"
