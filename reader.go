package rawws

import (
	"errors"

	"github.com/rawws/rawws/frame"
)

// fbufKeep is the largest frame-assembly buffer a session keeps between
// frames; bigger ones are dropped so a single large frame does not pin
// memory on an idle connection.
const fbufKeep = 64 << 10

// fbufInitial caps the buffer reserved up front for a frame arriving in
// pieces, so a header announcing a huge length costs nothing until the
// bytes actually come.
const fbufInitial = 1 << 20

// read parses frames out of b on the loop and returns the bytes consumed.
// Payload bytes are unmasked in place: the loop's buffer is ours once
// offered. A frame whose payload is entirely in b is delivered as a view of
// b; one that arrives in pieces is assembled in s.fbuf.
func (s *Session) read(b []byte) int {
	n := 0
	for n < len(b) {
		if s.flags.Load()&flagReadDead != 0 {
			return len(b)
		}
		if !s.inFrame {
			if s.mode != modeChannel && s.backlogged() {
				return n
			}
			s.parser.MaxFrameSize = s.maxFrameSize.Load()
			k, done, err := s.parser.Parse(b[n:])
			n += k
			if err != nil {
				s.protocolError(err)
				return len(b)
			}
			if !done {
				return n
			}
			s.hdr = s.parser.Header()
			s.stats.framesIn.Add(1)
			s.inFrame, s.got, s.maskPos = true, 0, 0
			if s.mode == modeMessages && !s.msgBegin() {
				return len(b)
			}
			if s.hdr.Length == 0 {
				s.inFrame = false
				if !s.frameDone(nil, true) {
					return n
				}
				continue
			}
		}
		chunk := b[n:]
		if rem := s.hdr.Length - s.got; int64(len(chunk)) > rem {
			chunk = chunk[:rem]
		}
		if s.hdr.Masked {
			s.maskPos = uint8(Mask(s.hdr.Key, int(s.maskPos), chunk) & 3)
		}
		n += len(chunk)
		first := s.got == 0
		s.got += int64(len(chunk))
		last := s.got == s.hdr.Length
		if last {
			s.inFrame = false
		}
		if s.mode == modeMessages && s.hdr.Opcode.IsData() {
			s.msgData(chunk, last)
			continue
		}
		if first && last {
			if !s.frameDone(chunk, true) {
				return n
			}
			continue
		}
		if s.fbuf == nil {
			s.fbuf = make([]byte, 0, min(s.hdr.Length, fbufInitial))
		}
		s.fbuf = append(s.fbuf, chunk...)
		if last && !s.frameDone(s.fbuf, false) {
			return n
		}
	}
	return n
}

// frameDone hands a complete frame on (a view of the loop's buffer when
// view is true, else s.fbuf). It reports false when delivery stalled and
// reading must stop here.
func (s *Session) frameDone(p []byte, view bool) bool {
	if s.mode == modeMessages {
		// Data frames go through msgData; only control frames get here.
		if s.hdr.Opcode.IsData() {
			s.msgData(p, true)
		} else {
			s.msgControl(p)
		}
		s.recycleFbuf()
		return true
	}
	h := &s.hdr
	f := frame.Frame{Fin: h.Fin, Rsv1: h.Rsv&0x40 != 0, Rsv2: h.Rsv&0x20 != 0, Rsv3: h.Rsv&0x10 != 0, Opcode: h.Opcode, Payload: p}
	if s.mode == modeChannel && !view {
		// The assembled buffer becomes the frame's own payload.
		s.fbuf = nil
	}
	ok := s.deliver(f, view)
	if s.mode == modeFrames {
		s.recycleFbuf()
	}
	return ok
}

// recycleFbuf empties the assembly buffer, dropping it when large.
func (s *Session) recycleFbuf() {
	if cap(s.fbuf) > fbufKeep {
		s.fbuf = nil
	} else {
		s.fbuf = s.fbuf[:0]
	}
}

// protocolError answers a parser error: Close with the error's code, then
// the session ends. A frame over MaxFrameSize ends it with ErrFrameTooBig.
func (s *Session) protocolError(err error) {
	var pe *frame.ProtocolError
	if !errors.As(err, &pe) {
		s.fail(frame.CloseProtocolError, "protocol error", err)
		return
	}
	if pe.Code == frame.CloseTooBig {
		s.fail(frame.CloseTooBig, "frame too big", ErrFrameTooBig)
		return
	}
	s.fail(pe.Code, pe.Reason, pe)
}

// backlogged reports whether reading must pause before the next frame
// because answers wait for the writer (event and message modes: their Send
// never blocks). A peer that does not read our answers then stops being
// read, so TCP pushes back on its sends, instead of its answers being
// refused at the queue's cap; the writer resumes reading once its queue is
// empty (writeLoop). Channel mode has Send block instead.
func (s *Session) backlogged() bool {
	if s.flags.Load()&flagQueued == 0 {
		return false // the common case, without the lock: nothing waits
	}
	s.mu.Lock()
	if len(s.q) == 0 || s.sendClosed || s.closed || s.conn == nil {
		s.mu.Unlock()
		return false
	}
	s.wpaused = true
	c := s.conn
	s.mu.Unlock()
	c.PauseRead()
	// The writer may have drained (and found nothing to resume) between
	// the two locks: then resume here, or reading would stay paused.
	s.mu.Lock()
	if s.wpaused && len(s.q) > 0 {
		s.mu.Unlock()
		return true
	}
	s.wpaused = false
	s.mu.Unlock()
	c.ResumeRead()
	return false
}
