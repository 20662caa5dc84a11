package rawws

import (
	"context"
	"fmt"

	"github.com/rawws/rawws/frame"
)

// Close ends the session. A nil cause is Terminate. Otherwise the session
// fails with cause: queued frames are dropped, the connection is closed at
// once, Err reports cause, and a frame waiting for room on Incoming is
// dropped.
func (s *Session) Close(cause error) {
	if cause == nil {
		s.Terminate()
		return
	}
	s.mu.Lock()
	s.setErrLocked(cause)
	s.sendClosed = true
	s.dropQueueLocked()
	s.wakeLocked()
	c := s.conn
	s.mu.Unlock()
	if ch := s.chans(); ch != nil {
		ch.inMu.Lock()
		select {
		case <-ch.killed:
		default:
			close(ch.killed)
		}
		ch.inMu.Unlock()
	}
	if c != nil {
		c.CloseWithError(cause)
	}
}

// Terminate stops accepting frames, writes what is queued, then closes the
// write side of the connection (TCP FIN). Reading goes on until the peer
// closes, or for Options.CloseTimeout, after which the connection is closed.
// It does not block, so it cannot wait for Outgoing's goroutine: frames
// still on that channel are dropped and counted in Dropped, as the seed's
// terminate drops them. Flush first to keep them (Start does).
func (s *Session) Terminate() {
	s.mu.Lock()
	s.sendClosed = true
	if s.wantFIN || s.closed {
		s.mu.Unlock()
		return
	}
	s.wantFIN = true
	start := !s.writing && s.conn != nil
	if start {
		s.writing = true
	}
	s.armCloseTimerLocked()
	s.mu.Unlock()
	if start {
		s.writeLoop(false)
	}
}

// armCloseTimerLocked bounds how long the connection may linger once the
// session is closing. mu is held.
func (s *Session) armCloseTimerLocked() {
	if c := s.cold.Load(); (c != nil && c.closeTimer != nil) || s.closed || s.opts.closeTimeout() < 0 || s.conn == nil {
		return
	}
	c := s.conn
	s.coldState().closeTimer = c.AfterFunc(s.opts.closeTimeout(), func() {
		c.CloseWithError(ErrCloseTimeout)
	})
}

// CloseWith sends a Close frame carrying r, then flushes. Frames sent after
// it are refused with ErrClosed and never reach the wire. In message mode
// the session then waits for the peer's Close (up to Options.CloseTimeout)
// and closes the connection. r.Code 0 sends a Close frame without payload.
// A reason that cannot be sent fails as with SendClose; a session that no
// longer sends fails with ErrClosed and its cause.
// It blocks like Send and Flush.
func (s *Session) CloseWith(ctx context.Context, r frame.CloseReason) error {
	var buf [frame.MaxControlPayload]byte
	p, err := frame.AppendCloseReason(buf[:0], r)
	if err != nil {
		return fmt.Errorf("rawws: close: %w: %w", ErrInvalidFrame, err)
	}
	// Frames sent on Outgoing before go out before the Close, not after it
	// (where they would be refused).
	if err := s.syncOutgoing(ctx); err != nil {
		return err
	}
	if err := s.send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: p}, true, true); err != nil {
		return err
	}
	return s.Flush(ctx)
}

// SendClose queues a Close frame carrying r without blocking, for event
// callbacks (CloseWith blocks). It skips the outgoing frame cap like other
// control frames. In message mode the session then waits for the peer's
// Close (up to Options.CloseTimeout) and closes the connection. It fails
// with ErrClosed (and the session's cause) when the session no longer
// sends, and with an error matching ErrInvalidFrame and
// frame.ErrInvalidCloseReason for a reason that cannot be sent.
func (s *Session) SendClose(r frame.CloseReason) error {
	var buf [frame.MaxControlPayload]byte
	p, err := frame.AppendCloseReason(buf[:0], r)
	if err != nil {
		return fmt.Errorf("rawws: close: %w: %w", ErrInvalidFrame, err)
	}
	if !s.enqueueControl(frame.OpClose, p) {
		return s.closedErr("close", nil)
	}
	return nil
}
