// Package epoll is the Linux poller backend built directly on epoll(7)
// through golang.org/x/sys/unix. It exists for the cases the default
// backend handles poorly:
//
//   - True read backpressure: PauseRead drops EPOLLIN interest and stops
//     reading, so the kernel's receive buffer fills and TCP closes the
//     window on the peer. Nothing piles up in user space while paused.
//   - No input buffer per idle connection: each event loop reads into one
//     shared buffer; only bytes a handler leaves unconsumed are copied into
//     a small pooled buffer, which goes back to the pool once consumed. An
//     idle connection costs its small struct and one slot-table entry.
//   - Any socket fd can be adopted (Engine.Adopt, Engine.AdoptFD): the
//     descriptor is detached from Go's own poller and run on a loop.
//
// Import it for its side effect and select it by name:
//
//	import _ "github.com/rawws/rawws/poller/epoll"
//	eng, err := poller.New("epoll", poller.Config{})
//
// or call New for the backend-specific Options. On other systems the
// package is empty and registers nothing.
//
// Threading: every loop is one goroutine (by default locked to its OS
// thread, see Options.LockOSThread) blocked in epoll_wait. Handler methods of
// a connection run on its loop, one at a time; OnClose too. Conn methods may
// be called from any goroutine: writes go straight to the non-blocking
// socket under a per-connection mutex, and only what the kernel refuses is
// queued and written by the loop when the socket becomes writable.
package epoll
