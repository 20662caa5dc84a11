// How a connection ends: the peer's FIN, the timeouts, the close.

package http

import (
	"time"

	"github.com/rawws/rawws/poller"
)

// readEOF answers the peer's FIN (poller.HalfCloseHandler.OnReadEOF). Every
// byte before it was offered to onData, so the requests that were complete
// are parsed and queued; a partial one (head or body) is not owed an
// answer and is dropped. It reports whether answers are still owed: then
// the connection stays open for writing, and the flush that writes the
// last one half-closes it (closeAfterWrite).
func (h *hconn) readEOF() bool {
	h.mu.Lock()
	if h.hijacked {
		// The engine picked this handler just before the hand-off: the FIN
		// is the new handler's, with its own answer.
		to := h.handTo
		h.mu.Unlock()
		if hc, ok := to.(poller.HalfCloseHandler); ok {
			return hc.OnReadEOF(h.c)
		}
		return false
	}
	gone := h.goneLocked()
	defer func() {
		for _, f := range gone {
			f()
		}
	}()
	defer h.mu.Unlock()
	h.eof, h.stopped = true, true
	h.rstate = rsStopped
	h.headStart.Store(0) // a partial head is not owed a 408 either
	h.readingBody.Store(false)
	if ex := h.cur; ex != nil {
		// Its body was cut by the FIN; it is the newest in the queue.
		h.cur = nil
		h.readingBody.Store(false)
		if k := len(h.queue) - 1; k >= 0 && h.queue[k] == ex {
			h.queue[k] = nil
			h.queue = h.queue[:k]
			recycle(ex)
		}
	}
	// blocked: an upgrade is being answered, or was and is being handed
	// off (it left the queue when its 101 was taken to be written).
	owed := len(h.queue) > 0 || h.running > 0 || h.stalled || h.blocked
	if owed && h.blocked {
		h.eofTo = true
	}
	if !owed {
		h.dead = true
	}
	return owed
}

// watchGone has f called once if the peer goes away (FIN or close) while
// ex's handler runs; nil stops it. It reports false, without calling f,
// when the peer is gone already.
func (h *hconn) watchGone(ex *exchange, f func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f != nil && (h.eof || h.closed || h.broken) {
		return false
	}
	ex.gone = f
	return true
}

// goneLocked takes the watchGone callbacks of the queued exchanges, to be
// called once h.mu is let go; h.mu is held.
func (h *hconn) goneLocked() []func() {
	var out []func()
	for _, ex := range h.queue {
		if ex.gone != nil {
			out = append(out, ex.gone)
			ex.gone = nil
		}
	}
	return out
}

// onTimer enforces ReadHeaderTimeout and IdleTimeout: one wheel timer per
// connection, re-armed for the nearest deadline instead of reset on every
// read. It runs with the timer's reference, which it hands to the next
// arming or drops.
func (h *hconn) onTimer() {
	if !h.timeout() {
		h.unref()
	}
}

// timeout is onTimer's work; it reports whether it re-armed the timer.
func (h *hconn) timeout() bool {
	now := monoNow()
	set := &h.srv.set
	h.mu.Lock()
	h.armed = false
	if h.closed || h.hijacked || h.dead {
		h.mu.Unlock()
		return false
	}
	busy := len(h.queue) > 0 || h.running > 0 || h.stalled
	la := h.lastActive.Load()
	hs := h.headStart.Load()
	if hs != 0 && set.ReadHeaderTimeout > 0 && now-hs >= int64(set.ReadHeaderTimeout) && !h.stopped {
		h.mu.Unlock()
		ex := h.newExchange()
		h.errorInto(ex, errHeaderTimeout)
		h.mu.Lock()
		h.queue = append(h.queue, ex)
		h.stopped = true
		h.mu.Unlock()
		h.flush()
		return false
	}
	if (!busy || h.readingBody.Load()) && hs == 0 && now-la >= int64(set.IdleTimeout) {
		h.dead = true
		h.mu.Unlock()
		h.c.Close()
		return false
	}
	next := int64(set.IdleTimeout)
	if !busy {
		next -= now - la
	}
	if hs != 0 && set.ReadHeaderTimeout > 0 {
		next = min(next, int64(set.ReadHeaderTimeout)-(now-hs))
	}
	next = max(next, int64(time.Millisecond))
	h.armLocked(time.Duration(next))
	h.mu.Unlock()
	return true
}

// onClose runs with the caller's reference.
func (h *hconn) onClose() {
	h.mu.Lock()
	h.closed, h.dead = true, true
	h.room.Broadcast() // handlers waiting for room fail now
	gone := h.goneLocked()
	timerRef := h.stopTimerLocked()
	connRef := h.dropConnLocked()
	h.mu.Unlock()
	for _, f := range gone {
		f()
	}
	if !connRef {
		return // hijacked: no longer the server's
	}
	if timerRef {
		h.unref()
	}
	h.srv.untrack(h)
	h.unref()
}
