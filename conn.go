package rawws

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rawws/rawws/poller"
)

// The engine's side of a session: the callbacks its poller.Conn makes
// (through sessionConn, off the exported API) and the half-close rules
// they apply.

// pendingReadEOF ends what OnReadEOF began while the session was pending:
// it kept the connection open then, so the session owns its end even when
// it turns out to owe nothing.
// It handles the FIN once, whichever path gets here first.
func (s *Session) pendingReadEOF() {
	s.mu.Lock()
	if s.flags.Load()&flagEOFPending == 0 || s.closed {
		s.mu.Unlock()
		return
	}
	s.flags.And(^flagEOFPending)
	owes := s.owesLocked()
	s.mu.Unlock()
	if owes {
		s.endAfterReadEOF()
		return
	}
	s.Terminate()
}

// awaitUnpend runs pendingReadEOF once the pending hand-off is complete
// (its OnOpen has returned), looking on the engine's wheel: the hand-off
// is short, and the session's end stops the wait.
func (s *Session) awaitUnpend(c poller.Conn) {
	var check func()
	check = func() {
		s.mu.Lock()
		fl := s.flags.Load()
		wait := !s.closed && fl&flagEOFPending != 0 && fl&flagPending != 0
		s.mu.Unlock()
		if wait {
			c.AfterFunc(consumerPoll, check)
			return
		}
		s.pendingReadEOF()
	}
	c.AfterFunc(consumerPoll, check)
}

// sessionConn is the face a Session shows its poller.Conn: the engine's
// callbacks live on it so that they are not part of the exported Session.
// (*sessionConn)(s) is a conversion, so handing it to the engine costs no
// allocation and no memory per session.
type sessionConn Session

// pollHandler is the handler the session's connection calls.
func (s *Session) pollHandler() *sessionConn { return (*sessionConn)(s) }

func (h *sessionConn) OnOpen(c poller.Conn)               { (*Session)(h).onOpen(c) }
func (h *sessionConn) OnData(c poller.Conn, b []byte) int { return (*Session)(h).onData(c, b) }
func (h *sessionConn) OnClose(c poller.Conn, err error)   { (*Session)(h).onClose(c, err) }
func (h *sessionConn) OnReadEOF(c poller.Conn) bool       { return (*Session)(h).onReadEOF(c) }

// onOpen runs when the session was given to the engine as the handler of a
// connection it opens (Adopt, Dial).
func (s *Session) onOpen(c poller.Conn) {
	s.setConn(c)
	s.openUser()
}

// onData parses frames out of b, unmasking
// payloads in place, and delivers them. It never blocks.
func (s *Session) onData(c poller.Conn, b []byte) int {
	if f := s.flags.Load(); f&(flagReadDead|flagPending) != 0 {
		if f&flagPending != 0 {
			s.holdPending(c)
			return 0 // not attached yet: complete has them offered again
		}
		return len(b)
	}
	if ch := s.chans(); ch != nil && ch.stalled.Load() {
		return 0
	}
	if st := s.stream(); st != nil && st.held() {
		return 0
	}
	return s.read(b)
}

// holdPending stops reading c while the session is pending: the user's
// OnOpen may take its time on the handler's goroutine, and what the peer
// sends meanwhile belongs in the socket (TCP pushes back), not piled up in
// the engine until its MaxInput closes the connection. The pause is taken
// under mu so that it comes before complete's resume, never after it.
func (s *Session) holdPending(c poller.Conn) {
	s.mu.Lock()
	if s.flags.Load()&flagPending != 0 {
		c.PauseRead()
	}
	s.mu.Unlock()
}

// onClose: the connection is gone. It wakes every
// blocked Send and Flush, closes Incoming (after a stalled frame is
// delivered) and calls the handler's OnClose with Err.
func (s *Session) onClose(c poller.Conn, err error) {
	s.mu.Lock()
	if s.flags.Load()&flagPending != 0 {
		// The user's OnOpen has not run yet: complete ends the session
		// with this close once it has.
		s.coldState().heldErr = err
		s.flags.Or(flagHeldClose)
		s.mu.Unlock()
		return
	}
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.sendClosed = true
	if errors.Is(err, io.EOF) {
		err = nil
		// OnClose runs on the loop like OnData, so the reader state is
		// stable here. A peer whose TCP ends inside a frame or a fragmented
		// message sent something truncated: that is no orderly end.
		fl := s.flags.Load()
		if r := s.rd; fl&flagReadDead == 0 && (fl&flagInFrag != 0 || r != nil && (r.inFrame || r.msg.inMsg)) {
			err = fmt.Errorf("rawws: connection closed inside a frame or message: %w", io.ErrUnexpectedEOF)
		}
	}
	if n := s.queuedLocked(); err == nil && n > 0 {
		// The peer closed while frames still waited for the socket: they
		// are lost, which is no orderly end.
		err = fmt.Errorf("rawws: connection closed with %d frames unsent: %w", n, ErrClosed)
	}
	s.setErrLocked(err)
	s.dropQueueLocked()
	cold := s.cold.Load()
	var done chan struct{}
	if cold != nil {
		if cold.closeTimer != nil {
			cold.closeTimer.Stop()
			cold.closeTimer = nil
		}
		done = cold.doneCh
	}
	s.wakeLocked()
	cause := s.errLocked()
	s.mu.Unlock()
	s.releaseCompression()
	if done != nil {
		close(done)
	}
	if cold != nil {
		s.leaveHubs(cold)
		if p := cold.pongHook.Load(); p != nil {
			p.Stop()
		}
	}
	s.flags.Or(flagReadDead)
	if g := s.opts.Group; g != nil {
		// Before the handler's OnClose, so a drain that sees the group
		// empty has counted every session.
		g.leave(s, cause)
	}
	switch s.mode {
	case modeChannel:
		s.closeIncoming()
	case modeFrames:
		s.opts.Handler.OnClose(s, cause)
	case modeMessages:
		s.opts.MessageHandler.OnClose(s, cause)
	}
}

// onReadEOF is poller.HalfCloseHandler's OnReadEOF: the peer sent FIN after
// every byte before it was handed to OnData. A peer that half-closes may
// still read, so the session keeps the connection open for writing while
// it owes the peer something: a handshake not completed yet (OnOpen and
// the bytes held for it), frames queued or being written (echoes, the
// answer to a Close), in frame event mode a peer's Close not answered yet,
// or, in channel mode, a handler run by Start or frames on Incoming not
// taken yet, whose answers may follow. Incoming is closed (after a
// stalled frame) so the consumer learns there is no more; the session then
// ends when its queue is written and its write side shut: at Start's end,
// at Terminate, or, without Start, once the consumer has taken the last
// frame. It never takes longer than Options.CloseTimeout from now, so a
// stuck handler cannot hold the connection (it then ends with
// ErrCloseTimeout). In the event modes no callback follows, so a session
// owing frames is terminated at once: FIN goes out behind them.
func (s *Session) onReadEOF(c poller.Conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	fl := s.flags.Load()
	if fl&flagPending != 0 {
		// The user's OnOpen has not run, or is running: what is owed is
		// known only after it. attach handles the FIN once OnOpen
		// returned; if the FIN comes after attach looked, the wait below
		// does, once the hand-off is complete.
		s.flags.Or(flagReadEOF | flagEOFPending)
		attached := s.conn != nil
		s.mu.Unlock()
		if attached {
			s.awaitUnpend(c)
		}
		return true
	}
	if r := s.rd; fl&flagReadDead == 0 && (fl&flagInFrag != 0 || r != nil && (r.inFrame || r.msg.inMsg)) {
		s.setErrLocked(fmt.Errorf("rawws: peer's FIN inside a frame or message: %w", io.ErrUnexpectedEOF))
	}
	owes := s.owesLocked()
	if owes {
		s.flags.Or(flagReadEOF)
	}
	s.mu.Unlock()
	if owes {
		s.endAfterReadEOF()
	}
	return owes
}

// owesLocked reports whether the session may still write to a peer that
// sent FIN. mu is held.
func (s *Session) owesLocked() bool {
	if s.finDone {
		return false // our FIN is out: nothing can follow it
	}
	if s.queuedLocked() > 0 || s.writing {
		return true
	}
	if s.sendClosed {
		return false
	}
	switch s.mode {
	case modeChannel:
		// Start's handler may still answer, and so may whoever has not
		// taken every frame from Incoming yet.
		return s.flags.Load()&flagInStart != 0 || s.consumerBehind()
	case modeFrames:
		return s.closeUnanswered()
	}
	return false
}

// closeUnanswered reports whether a raw session got the peer's Close and
// has not sent one of its own.
func (s *Session) closeUnanswered() bool {
	return s.flags.Load()&(flagPeerClose|flagCloseSent) == flagPeerClose
}

// consumerBehind reports whether frames wait for the channel-mode
// consumer (on Incoming or stalled before it).
func (s *Session) consumerBehind() bool {
	ch := s.chans()
	return len(ch.incoming) > 0 || ch.stalled.Load()
}

// consumerPoll is how often a half-closed channel session not run by
// Start looks whether its consumer has taken the last frame.
const consumerPoll = 10 * time.Millisecond

// watchConsumer ends a half-closed channel session that Start does not run
// once its consumer has taken every frame: nothing tells the session when
// such a consumer is done answering, so the last frame taken is the end
// (the close timer still bounds it). Start, if it begins meanwhile, owns
// the end instead.
func (s *Session) watchConsumer(c poller.Conn) {
	var check func()
	check = func() {
		s.mu.Lock()
		over := s.closed || s.finDone || s.flags.Load()&flagInStart != 0
		s.mu.Unlock()
		if over {
			return
		}
		if !s.consumerBehind() {
			s.Terminate()
			return
		}
		c.AfterFunc(consumerPoll, check)
	}
	c.AfterFunc(consumerPoll, check)
}

// endAfterReadEOF bounds and ends a session kept open after the peer's
// FIN: the close timer caps how long it may take, channel mode's consumer
// learns of the end through Incoming, and the event modes, with no
// callback to come, terminate now.
func (s *Session) endAfterReadEOF() {
	s.mu.Lock()
	s.armCloseTimerLocked()
	c := s.conn
	s.mu.Unlock()
	switch {
	case s.mode == modeChannel:
		s.closeIncoming()
		if s.flags.Load()&flagInStart == 0 && c != nil {
			s.watchConsumer(c)
		}
	case s.mode == modeFrames && s.closeUnanswered():
		// The handler's Close answer (from another goroutine: no callback
		// follows) shuts the write side once written; Terminate now would
		// refuse it.
	default:
		s.Terminate()
	}
}
