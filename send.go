package rawws

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/rawws/rawws/frame"
)

// Send queues f for writing. Ownership of f.Payload passes to the session
// until the frame is written (a Flush that returns says it was): the caller
// must not modify it meanwhile. Nothing is copied for unmasked frames.
//
// In channel mode Send blocks while the outgoing queue is full
// (Options.OutgoingFrames frames or Options.OutgoingBytes bytes held while
// the socket is busy) until there is room, ctx ends (ctx.Err is returned,
// nothing queued) or the session closes. In event mode it never blocks: at
// the cap it applies Options.QueueFull and returns ErrQueueFull.
//
// It fails with ErrClosed once the session is closing: after Close,
// Terminate, a Close frame was queued (so frames after a Close never reach
// the wire), or the connection is gone. Queueing a Close frame closes the
// session for sending and arms Options.CloseTimeout.
func (s *Session) Send(ctx context.Context, f frame.Frame) error {
	return s.send(ctx, f, s.mode == modeChannel, false)
}

// SendCopy is Send for callers that cannot give the payload up (such as a
// payload handed to an event callback): when the frame cannot be written at
// once, its payload is copied into a pooled buffer. The caller may reuse
// f.Payload as soon as SendCopy returns.
func (s *Session) SendCopy(ctx context.Context, f frame.Frame) error {
	return s.send(ctx, f, s.mode == modeChannel, true)
}

// WriteMessage sends payload as one final frame of type op, copying it when
// it cannot be written at once (see SendCopy). It suits echoing a payload
// received in an event callback.
func (s *Session) WriteMessage(ctx context.Context, op frame.Opcode, payload []byte) error {
	return s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: op, Payload: payload})
}

// SendText sends text as one final text frame, without copying it.
func (s *Session) SendText(ctx context.Context, text string) error {
	// The writer only ever reads an unmasked payload, and masking copies
	// first, so aliasing the string's bytes is safe.
	return s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpText, Payload: unsafe.Slice(unsafe.StringData(text), len(text))})
}

// SendBinary sends b as one final binary frame; ownership as with Send.
func (s *Session) SendBinary(ctx context.Context, b []byte) error {
	return s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: b})
}

// fullLocked reports whether a frame of n payload bytes must wait. A frame
// larger than the byte cap is admitted into an empty queue so it can be
// sent at all. mu is held.
func (s *Session) fullLocked(n int) bool {
	w := s.w
	if w == nil {
		return false
	}
	if len(w.q) >= s.opts.OutgoingFrames {
		return true
	}
	return len(w.q) > 0 && w.qbytes+n > s.opts.OutgoingBytes
}

// send queues f; block says whether to wait for room, copyPayload whether
// the caller keeps f.Payload.
func (s *Session) send(ctx context.Context, f frame.Frame, block, copyPayload bool) error {
	z := s.deflate().compressing(&f)
	if z != nil {
		// Held until the frame is queued: compressed messages take their
		// places on the wire in the order they were compressed.
		z.mu.Lock()
		defer z.mu.Unlock()
	}
	s.mu.Lock()
	for {
		if s.sendClosed {
			s.mu.Unlock()
			return fmt.Errorf("rawws: send %v: %w", f.Opcode, ErrClosed)
		}
		if !s.fullLocked(len(f.Payload)) {
			break
		}
		if !block {
			s.mu.Unlock()
			if s.opts.QueueFull == QueueFullClose {
				s.fail(frame.ClosePolicyViolation, "outgoing queue full", ErrQueueFull)
			}
			s.addDrops(1)
			return ErrQueueFull
		}
		w := s.waitChanLocked()
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	var pooled *[]byte
	if z != nil {
		// Compressing releases mu meanwhile; the compressed payload is the
		// session's own.
		bp, err := s.compressUnlocked(z, &f)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		pooled = bp
	}
	writeNow := !s.writing && s.conn != nil
	if pooled == nil && copyPayload && !writeNow && len(f.Payload) > 0 {
		// The frame will wait for the writer: it needs bytes of its own.
		pooled = getBuf(len(f.Payload))
		p := (*pooled)[:len(f.Payload)]
		copy(p, f.Payload)
		f.Payload = p
	}
	s.pushLocked(f, pooled, nil)
	if writeNow {
		s.writing = true
		s.mu.Unlock()
		// The frame goes out in this call's first Writev, which copies or
		// writes it before returning: no copy was needed above.
		s.writeLoop(false)
		return nil
	}
	s.mu.Unlock()
	return nil
}

// pushLocked appends f (with its pooled buffer or prepared frame, released
// once written) to the queue. mu is held.
func (s *Session) pushLocked(f frame.Frame, pooled *[]byte, prep *PreparedFrame) {
	w := s.wLocked()
	w.enqSeq++
	w.q = append(w.q, outFrame{f: f, pooled: pooled, prep: prep, seq: w.enqSeq})
	if s.writing {
		// It waits behind a busy writer: the reader pauses at its next
		// frame boundary (backlogged). A frame the caller is about to write
		// itself sets nothing, keeping atomic stores off the common path.
		s.flags.Or(flagQueued)
	}
	w.qbytes += len(f.Payload)
	if sh := s.sink.Load(); sh != nil {
		sh.queued(len(w.q))
	}
	if f.Opcode == frame.OpClose {
		s.sendClosed = true
		s.armCloseTimerLocked()
	}
}

// maxControlBacklog bounds the control frames (pongs, closes) the loop may
// queue beyond Options.OutgoingFrames when the peer sends pings but does not
// read our answers.
const maxControlBacklog = 32

// enqueueControl queues a control frame from the loop without blocking,
// copying payload. Control frames skip the frame cap so a pong is never
// dropped, up to maxControlBacklog extra frames; past that the peer is
// flooding us and the connection is closed. It reports whether the frame
// was queued.
func (s *Session) enqueueControl(op frame.Opcode, payload []byte) bool {
	s.mu.Lock()
	if s.sendClosed {
		s.mu.Unlock()
		return false
	}
	if s.queuedLocked() >= s.opts.OutgoingFrames+maxControlBacklog {
		c := s.conn
		s.setErrLocked(ErrQueueFull)
		s.mu.Unlock()
		s.addDrops(1)
		if c != nil {
			c.CloseWithError(ErrQueueFull)
		}
		return false
	}
	var pooled *[]byte
	var p []byte
	if len(payload) > 0 {
		pooled = getBuf(len(payload))
		p = (*pooled)[:len(payload)]
		copy(p, payload)
	}
	s.pushLocked(frame.Frame{Fin: true, Opcode: op, Payload: p}, pooled, nil)
	start := !s.writing && s.conn != nil
	if start {
		s.writing = true
	}
	s.mu.Unlock()
	if start {
		s.writeLoop(false)
	}
	return true
}

// Flush returns once every frame sent before the call, by any path (Send,
// Outgoing, the helpers), has been written to the socket (not that the
// peer received it), or when ctx ends (ctx.Err).
// Once the session is closed it waits for the writer to finish and returns
// nil, unless bytes the connection still held were lost (the peer reset
// it with a backlog): then it returns the connection's error, so a loss is
// never reported as a flush. It blocks the calling goroutine; never call
// it from an event callback.
func (s *Session) Flush(ctx context.Context) error {
	if err := s.syncOutgoing(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	// The frames to wait for are those of the queue as it is now: written
	// once its wrSeq reaches target, or once the writer has given the
	// queue back (it only does so empty).
	w := s.w
	var target uint64
	if w != nil {
		target = w.enqSeq
	}
	for {
		written := w == nil || s.w != w || w.wrSeq >= target
		if s.closed {
			if !s.writing {
				c := s.conn
				s.mu.Unlock()
				if c == nil {
					return nil
				}
				// After a clean close the connection's Flush is nil; after a
				// reset that dropped queued bytes it is an error.
				if err := c.Flush(ctx); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return fmt.Errorf("rawws: flush: %w", err)
				}
				return nil
			}
		} else if written && s.conn != nil {
			c := s.conn
			s.mu.Unlock()
			if err := c.Flush(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.mu.Lock()
				closed := s.closed || s.finDone
				s.mu.Unlock()
				if closed {
					return nil
				}
				return fmt.Errorf("rawws: flush: %w", err)
			}
			return nil
		} else if written {
			s.mu.Unlock()
			return nil
		}
		if w != nil && s.w == w {
			w.waited = true
		}
		wake := s.waitChanLocked()
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
}

// Buffered is the number of bytes queued and not yet in the socket: held by
// the session plus queued in the connection.
func (s *Session) Buffered() int {
	s.mu.Lock()
	n, c := 0, s.conn
	if s.w != nil {
		n = s.w.qbytes
	}
	s.mu.Unlock()
	if c != nil {
		n += c.Buffered()
	}
	return n
}

// fail ends the session because of a local decision or a peer's protocol
// error: it queues a Close frame with code and reason (unless one was
// queued already), records err as the session's cause, stops reading, and
// shuts the write side once the Close is written; the connection is closed
// when the peer closes or after Options.CloseTimeout.
func (s *Session) fail(code frame.CloseCode, reason string, err error) {
	s.setErr(err)
	s.flags.Or(flagReadDead)
	var buf [frame.MaxControlPayload]byte
	p, perr := frame.AppendCloseReason(buf[:0], frame.CloseReason{Code: code, Text: reason})
	if perr != nil {
		p = buf[:0]
	}
	s.enqueueControl(frame.OpClose, p)
	s.Terminate()
}
