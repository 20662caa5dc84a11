// The output side of a connection: responses queued in order, held while
// the engine's queue is at its cap, drained as the socket takes them.

package http

import (
	"context"
	"errors"

	"github.com/rawws/rawws/poller"
)

// push queues streamed bytes of a response that is still running. A handler
// on a goroutine then waits until the connection has room for more (see
// waitRoom); one on the loop cannot wait, and its bytes leave when it
// returns.
func (h *hconn) push(ex *exchange, out []byte) error {
	h.mu.Lock()
	ex.pending = append(ex.pending, out)
	ex.pendingN += len(out)
	h.mu.Unlock()
	if ex.inline {
		return nil
	}
	h.flush()
	return h.waitRoom(ex)
}

// waitRoom blocks ex's handler goroutine while the connection's output is
// at its cap (stalled) or ex holds more than maxPending bytes behind
// earlier responses, and fails once those bytes can never be sent.
func (h *hconn) waitRoom(ex *exchange) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		if h.timedOut {
			return ErrWriteTimeout
		}
		if h.dead || h.broken {
			return ErrConnClosed
		}
		if !h.stalled && ex.pendingN <= maxPending {
			return nil
		}
		h.room.Wait()
	}
}

// flush writes, with one Writev, every response byte that may leave now:
// those of the exchanges at the head of the queue, in order. One flusher
// runs at a time; others leave their bytes to it. While the connection's
// queue is full (stalled) the drainer flushes once it has drained.
func (h *hconn) flush() {
	h.mu.Lock()
	if h.writing || h.stalled {
		h.dirty = true
		h.mu.Unlock()
		return
	}
	h.writing = true
	var closeAfter bool
	var hijack *exchange
	for {
		h.dirty = false
		iov, rec := h.iov[:0], h.rec[:0]
		if h.held != nil {
			// Refused last time: it goes first, as it was cut.
			iov, rec = append(iov, h.held...), append(rec, h.heldRec...)
			closeAfter, hijack = h.heldClose, h.heldHijack
			clear(h.held)
			h.held, h.heldRec, h.heldClose, h.heldHijack = nil, nil, false, nil
			if h.closed {
				clear(iov)
				iov = iov[:0]
				if hijack != nil {
					hijack.w.hijackErr = ErrConnClosed
					hijack.w.hijackOK <- struct{}{}
					hijack = nil
				}
				closeAfter = false
			}
		}
		n := 0
		for n < len(h.queue) && !closeAfter && hijack == nil {
			ex := h.queue[n]
			if !h.dead {
				iov = append(iov, ex.pending...)
			}
			clear(ex.pending)
			ex.pending = ex.pending[:0]
			ex.pendingN = 0
			if !ex.done {
				break
			}
			n++
			if ex.hijack != nil {
				if !h.dead {
					hijack = ex
					continue
				}
				// The hijacking handler still holds it; it is recycled
				// when the handler returns.
				ex.w.hijackErr = ErrConnClosed
				ex.w.hijackOK <- struct{}{}
				continue
			}
			rec = append(rec, ex)
			if ex.closeAfter && !h.dead {
				closeAfter = true
			}
		}
		k := copy(h.queue, h.queue[n:])
		// Drop the moved-out pointers too, or the backing array keeps
		// finished (and hijacked) exchanges alive.
		clear(h.queue[k:])
		h.queue = h.queue[:k]
		if closeAfter || hijack != nil {
			h.dead = true
		}
		// Bytes moved out of the exchanges: their handlers may go on.
		h.room.Broadcast()
		h.mu.Unlock()
		if len(iov) > 0 {
			if _, err := h.c.Writev(iov); err != nil {
				if errors.Is(err, poller.ErrOutputLimit) {
					// Nothing of iov was queued. Keep it, and what it
					// was to be followed by, for when the queue drained.
					h.mu.Lock()
					h.held, h.heldRec, h.heldClose, h.heldHijack = iov, rec, closeAfter, hijack
					h.iov, h.rec = nil, nil
					h.stalled, h.writing = true, false
					h.refs.Add(1) // the drainer's
					h.mu.Unlock()
					go h.drain(h.c)
					return
				}
				h.mu.Lock()
				h.broken = true
				h.room.Broadcast()
				h.mu.Unlock()
				h.c.CloseWithError(err)
			}
		}
		clear(iov)
		for i, ex := range rec {
			recycle(ex)
			rec[i] = nil
		}
		h.mu.Lock()
		h.iov, h.rec = iov[:0], rec[:0]
		if !h.dirty {
			break
		}
		if closeAfter || hijack != nil {
			break
		}
	}
	h.writing = false
	resume := h.paused && h.canStartLocked()
	if resume {
		h.paused = false
	}
	idleShutdown := (h.srv.closing.Load() || h.eof) && len(h.queue) == 0 && h.running == 0 && !h.dead && !h.closed
	if idleShutdown {
		h.dead, h.stopped = true, true
	}
	h.mu.Unlock()
	switch {
	case hijack != nil:
		h.handoff(hijack)
	case closeAfter || idleShutdown:
		h.closeAfterWrite()
	case resume:
		h.c.ResumeRead()
	}
}

// drain runs while the connection refused output: it waits on its own
// goroutine (never the loop's) until c's queue is written, then writes
// what was held back and lets the handlers and the reader go on. Flush
// returns early when the connection dies; the held bytes are dropped then.
// A peer that stops reading would hold the handlers and the queue forever,
// so a queue that shrinks by nothing within WriteTimeout closes the
// connection. Progress, not the whole response, is timed: a slow reader of
// a large body is served as long as it reads.
func (h *hconn) drain(c poller.Conn) {
	if err := poller.FlushStalled(context.Background(), c, h.srv.set.WriteTimeout); errors.Is(err, poller.ErrStalled) {
		h.mu.Lock()
		h.timedOut = true
		h.mu.Unlock()
		c.CloseWithError(ErrWriteTimeout)
	}
	h.mu.Lock()
	h.stalled = false
	h.mu.Unlock()
	h.flush()
	h.unref()
}

// closeAfterWrite half-closes once the queued bytes are out and closes for
// good after lingerTimeout, so the peer reads the last response.
func (h *hconn) closeAfterWrite() {
	c := h.c
	c.CloseWrite()
	// The closure holds c, not h: h may serve another connection by then.
	c.AfterFunc(lingerTimeout, func() { c.Close() })
}

// handoff gives the connection to the hijacker once its response is
// written: from now on its bytes go to the new handler.
func (h *hconn) handoff(ex *exchange) {
	// From hijacked on, OnData leaves the bytes for the new handler; until
	// SetHandler installs it they must stay in the socket, not pile up in
	// the engine toward MaxInput (a client may send megabytes as soon as
	// it reads the 101). The pause comes before hijacked is set, so an
	// OnData that pauses for its own reasons does so first, under mu, and
	// the ResumeRead below ends both. Inside OnData (an inline handler)
	// pause and resume cancel out.
	h.c.PauseRead()
	h.mu.Lock()
	h.hijacked = true
	h.handTo = ex.hijack
	eofTo := h.eofTo
	timerRef := h.stopTimerLocked()
	connRef := h.dropConnLocked()
	h.mu.Unlock()
	if timerRef {
		h.unref() // cannot be the last: the caller holds one
	}
	h.srv.untrack(h)
	// Nothing of the server may stay reachable from the connection once
	// it is handed off: its handler is the only link to h (and through
	// it to its buffers and the exchange), so an idle hijacked connection
	// costs the server no memory once the hijacker's handler replaces it.
	// Bytes arriving in between find h hijacked and stay unconsumed;
	// SetHandler offers them to the new handler.
	h.c.SetHandler(ex.hijack)
	h.c.ResumeRead()
	if eofTo {
		// The FIN came while the upgrade was being answered, so the engine
		// told us, not the new handler: pass it on. No OnData follows a
		// FIN, so this cannot race the new handler's own callbacks. false
		// (or a handler that does not ask) means what the engine would
		// have done: close once the queued output is written.
		if hc, ok := ex.hijack.(poller.HalfCloseHandler); !ok || !hc.OnReadEOF(h.c) {
			h.c.CloseWrite()
		}
	}
	ex.w.hijackOK <- struct{}{}
	// The exchange is recycled (runAsync, dispatch) once the hijacking
	// handler returned: it may still hold its writer until then. h goes
	// back to the pool when the caller's reference (the loop's or the
	// handler goroutine's) is dropped too.
	if connRef {
		h.unref()
	}
}
