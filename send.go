package rawws

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
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
// A fragmented message is sent as frames with Fin false and then one with
// Fin true; as in the seed, each fragment may carry the message's type
// (OpText or OpBinary) and the writer encodes all but the first as
// continuations, or carry OpContinuation itself. Send refuses, with an
// error wrapping ErrInvalidFrame and nothing queued, what RFC 6455 forbids
// an endpoint to send: a reserved opcode, a control frame over 125 bytes
// or with Fin false, a Close payload that is not a valid close reason, RSV
// bits no extension negotiated (Options.AllowedRsv, permessage-deflate's
// RSV1), a continuation with no fragmented message open, or a data frame
// of the other type while one is open. Control frames may come between
// fragments.
//
// It fails with an error matching ErrClosed once the session is closing:
// after Close (the error then matches the cause given to Close too),
// Terminate, a Close frame was queued (so frames after a Close never reach
// the wire), or the connection is gone (matching Err's cause). Queueing a
// Close frame closes the session for sending, arms Options.CloseTimeout
// and shuts the write side once the Close is written.
func (s *Session) Send(ctx context.Context, f frame.Frame) error {
	return s.send(ctx, f, s.blocks(), false)
}

// blocks reports whether the session's Send waits for room (channel and
// blocking modes) rather than applying QueueFull.
func (s *Session) blocks() bool { return s.mode == modeChannel || s.opts.Blocking }

// SendCopy is Send for callers that cannot give the payload up, such as a
// payload handed to an event callback (a view into the loop's buffer):
// ownership of f.Payload stays with the caller, who may reuse it as soon as
// SendCopy returns. When the frame cannot be written at once its payload is
// copied into a pooled buffer; when it can, nothing is copied. Blocking,
// refusals and errors are Send's.
func (s *Session) SendCopy(ctx context.Context, f frame.Frame) error {
	return s.send(ctx, f, s.blocks(), true)
}

// SendText sends text as one final text frame, without copying it: a
// string is immutable, so there is no ownership to give up. Blocking and
// errors are Send's.
func (s *Session) SendText(ctx context.Context, text string) error {
	// The writer only ever reads an unmasked payload, and masking copies
	// first, so aliasing the string's bytes is safe.
	return s.Send(ctx, frame.Frame{Fin: true, Opcode: frame.OpText, Payload: unsafe.Slice(unsafe.StringData(text), len(text))})
}

// SendBinary sends b as one final binary frame. Ownership of b passes to
// the session until the frame is written, as with Send; blocking and
// errors are Send's.
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
	if len(w.q) >= s.opts.outgoingFrames() {
		return true
	}
	return len(w.q) > 0 && w.qbytes+n > s.opts.outgoingBytes()
}

// send queues f; block says whether to wait for room, copyPayload whether
// the caller keeps f.Payload.
func (s *Session) send(ctx context.Context, f frame.Frame, block, copyPayload bool) error {
	return s.sendFrame(ctx, f, block, copyPayload, false)
}

// sendFrame is send; owner says the caller is the open message Writer,
// whose frames do not wait for its own lock.
func (s *Session) sendFrame(ctx context.Context, f frame.Frame, block, copyPayload, owner bool) error {
	if err := s.checkFrame(&f); err != nil {
		return err
	}
	if !owner && f.Opcode.IsData() {
		release, err := s.waitMessage(ctx, block)
		if err != nil {
			return err
		}
		if release != nil {
			defer release()
		}
	}
	var z *pmd
	if s.flags.Load()&flagOutFrag == 0 {
		// A frame continuing a fragmented message is never compressed on
		// its own: RSV1 belongs on a message's first frame only.
		z = s.deflate().compressing(&f)
	}
	if z != nil {
		// Held until the frame is queued: compressed messages take their
		// places on the wire in the order they were compressed.
		z.mu.Lock()
		defer z.mu.Unlock()
	}
	s.mu.Lock()
	for {
		if s.sendClosed {
			err := s.closedErrLocked("send "+f.Opcode.String(), nil)
			s.mu.Unlock()
			return err
		}
		if f.Opcode.IsData() {
			// Checked before waiting or compressing: a frame that will be
			// refused must cost neither.
			if _, err := s.fragmentLocked(f); err != nil {
				s.mu.Unlock()
				return err
			}
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
	if f.Opcode.IsData() {
		// Again, now for good: mu may have been released since the check.
		op, err := s.fragmentLocked(f)
		if err == nil && z != nil && op == frame.OpContinuation {
			// Another sender opened a message while this one compressed.
			err = invalidFrame(f.Opcode, "compressed frame inside a fragmented message")
		}
		if err != nil {
			s.mu.Unlock()
			if pooled != nil {
				bufpool.Put(pooled)
			}
			return err
		}
		s.advanceFragmentLocked(f)
		f.Opcode = op
	}
	writeNow := !s.writing && s.conn != nil
	if pooled == nil && copyPayload && !writeNow && len(f.Payload) > 0 {
		// The frame will wait for the writer: it needs bytes of its own.
		pooled = bufpool.Get(len(f.Payload))
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

// checkFrame refuses a frame RFC 6455 forbids whatever came before it.
// It runs for every frame sent, so data frames cost compares only: errors
// are built on the refusal path alone, and only a Close payload (rare) is
// parsed.
func (s *Session) checkFrame(f *frame.Frame) error {
	op := f.Opcode
	if op.IsReserved() {
		return invalidFrame(op, "reserved opcode")
	}
	if f.Rsv1 || f.Rsv2 || f.Rsv3 {
		allowed := s.opts.AllowedRsv
		if s.deflate() != nil {
			allowed |= 0x40
		}
		if f.Rsv()&^allowed != 0 {
			return invalidFrame(op, "RSV bits without a negotiated extension")
		}
	}
	if !op.IsControl() {
		return nil
	}
	switch {
	case !f.Fin:
		return invalidFrame(op, "fragmented control frame")
	case len(f.Payload) > frame.MaxControlPayload:
		return invalidFrame(op, "control frame payload over 125 bytes")
	case op == frame.OpClose && len(f.Payload) > 0:
		if _, err := frame.ParseCloseReason(f.Payload); err != nil {
			return fmt.Errorf("rawws: send close: %w: %w", ErrInvalidFrame, err)
		}
	}
	return nil
}

func invalidFrame(op frame.Opcode, why string) error {
	return fmt.Errorf("rawws: send %v: %w: %s", op, ErrInvalidFrame, why)
}

// fragmentLocked applies the fragmentation rules to data frame f and
// returns the opcode it goes on the wire with: a frame continuing the open
// message, given its type or OpContinuation, is a continuation. mu is held.
func (s *Session) fragmentLocked(f frame.Frame) (frame.Opcode, error) {
	fl := s.flags.Load()
	if fl&flagOutFrag == 0 {
		if f.Opcode == frame.OpContinuation {
			return 0, invalidFrame(f.Opcode, "continuation with no fragmented message open")
		}
		return f.Opcode, nil
	}
	open := frame.OpText
	if fl&flagOutBinary != 0 {
		open = frame.OpBinary
	}
	if f.Opcode != frame.OpContinuation && f.Opcode != open {
		return 0, invalidFrame(f.Opcode, "new data frame while a fragmented "+open.String()+" message is open")
	}
	return frame.OpContinuation, nil
}

// advanceFragmentLocked records whether f (accepted by fragmentLocked)
// leaves a fragmented message open. Whole messages, the common case, only
// read the flags. mu is held.
func (s *Session) advanceFragmentLocked(f frame.Frame) {
	open := s.flags.Load()&flagOutFrag != 0
	switch {
	case !open && !f.Fin:
		bits := flagOutFrag
		if f.Opcode == frame.OpBinary {
			bits |= flagOutBinary
		}
		s.flags.Or(bits)
	case open && f.Fin:
		s.flags.And(^(flagOutFrag | flagOutBinary))
	}
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
		if s.flags.Load()&flagCloseSent == 0 {
			s.flags.Or(flagCloseSent)
		}
		if s.mode != modeMessages {
			// The seed closes its output once the Close is written: a raw
			// session has nothing left to send. Message mode keeps the
			// write side open until the peer answers, then terminates.
			s.wantFIN = true
		}
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
	if s.queuedLocked() >= s.opts.outgoingFrames()+maxControlBacklog {
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
		pooled = bufpool.Get(len(payload))
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
		if w != nil && w.lostFrom != 0 && w.lostFrom <= target {
			// Frames this Flush covers were dropped or failed to write.
			err := s.closedErrLocked("flush", nil)
			s.mu.Unlock()
			return err
		}
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
					return s.closedErr("flush", err)
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
				defer s.mu.Unlock()
				if (s.closed || s.finDone) && s.errLocked() == nil {
					// An orderly end: the connection refuses a Flush once
					// shut, with everything written.
					return nil
				}
				return s.closedErrLocked("flush", err)
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
	s.streamAbort()
	var buf [frame.MaxControlPayload]byte
	p, perr := frame.AppendCloseReason(buf[:0], frame.CloseReason{Code: code, Text: reason})
	if perr != nil {
		p = buf[:0]
	}
	s.enqueueControl(frame.OpClose, p)
	s.Terminate()
}
