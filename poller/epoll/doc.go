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
// thread, see Options.LockOSThread) blocked in epoll_wait; an eventfd wakes
// it for work posted by other goroutines. Handler methods of a connection
// run on its loop, one at a time, OnClose included. Conn methods may be
// called from any goroutine: writes go straight to the non-blocking socket
// under a per-connection mutex (a non-blocking writev, never a wait), and
// only what the kernel refuses is queued and written by the loop on
// EPOLLOUT. One exception batches answers to pipelined input: the writes
// made during a connection's OnData (up to 32 KiB) are copied to the loop's
// cork buffer and leave together in one write when OnData returns, or
// earlier on Flush, CloseWrite or a write that would pass 32 KiB. One read
// then costs one write however many requests it held, the first answer
// included (an earlier version sent the first at once and the rest in a
// second writev: two syscalls and two TCP segments per read).
// Accepted TCP connections get TCP_NODELAY, as Go's net gives every TCP
// connection. Close marks the connection closed at once (writes fail from
// then on) and the loop closes the descriptor and calls OnClose right after
// the current handler method, or on its next turn.
//
// Reads are edge-triggered and each readiness event reads until EAGAIN or
// a budget of 8 reads, after which the connection waits its turn behind the
// others. ResumeRead always reads until EAGAIN, since edges are not
// replayed.
//
// End of input: when the peer half-closes (read returns 0) and every byte
// before the FIN was offered (after ResumeRead, if paused), a
// poller.HalfCloseHandler is asked OnReadEOF. Unless it keeps writing, the
// connection closes with io.EOF as soon as its queued output has been
// written, so a reply written from the last OnData still reaches the peer.
// One that keeps writing stays registered (a reset is still seen) until
// CloseWrite's FIN leaves or it is closed.
//
// Syscalls: read and writev on the (always non-blocking) sockets are made
// with RawSyscall, skipping the scheduler's enter/exit-syscall bookkeeping
// (about +3% echo throughput at 64 B, 100 and 1,000 connections, on 2
// cores); epoll_wait, which blocks, goes through Syscall so the runtime can
// hand the loop's P to other goroutines. Measured and not kept (no clear
// win in interleaved runs): unlocked loop threads, a non-blocking
// epoll_wait before each blocking one, one loop instead of GOMAXPROCS,
// 512-event batches, and parking the loop in Go's netpoller on the epoll
// descriptor (12% less CPU per message, but 8% less throughput at 100
// connections and a higher p99).
//
// Accepting: Serve watches a duplicate of the listener's descriptor on one
// loop and accepts with accept4 there (round-robin to the loops);
// ServeReusePort opens one SO_REUSEPORT socket per loop instead.
package epoll
