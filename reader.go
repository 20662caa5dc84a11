package rawws

import (
	"errors"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
)

// fbufInitial caps the buffer reserved up front for a frame arriving in
// pieces, so a header announcing a huge length costs nothing until the
// bytes actually come.
const fbufInitial = 1 << 20

// readState is the reader's state between bytes: the header parser, the
// frame in progress and the message layer's reassembly. A read callback
// keeps it on its stack; only when a header, a frame or a fragmented
// message is unfinished at the callback's end does it move to Session.rd
// (a pooled object), and it goes back once that completes, so an idle
// session carries none of it.
type readState struct {
	parser   frame.Parser
	hdr      frame.Header
	got      int64
	inFrame  bool
	inHeader bool  // the parser holds part of a header
	maskPos  uint8 // the key position, 0-3 (Mask's pos)
	// fbuf assembles a frame that arrives in pieces, in the pooled buffer
	// fbp (nil when none is held).
	fbuf []byte
	fbp  *[]byte
	msg  msgState
}

// busy reports whether r holds anything the next callback needs.
func (r *readState) busy() bool {
	return r.inFrame || r.inHeader || r.msg.inMsg || r.fbp != nil || r.msg.bp != nil
}

// releaseBufs gives r's pooled buffers back.
func (r *readState) releaseBufs() {
	if r.fbp != nil {
		putPooled(r.fbp, r.fbuf)
		r.fbp, r.fbuf = nil, nil
	}
	if r.msg.bp != nil {
		putPooled(r.msg.bp, r.msg.buf)
		r.msg.bp, r.msg.buf = nil, nil
	}
}

var readStatePool statePool[readState]

// putPooled gives back a pooled buffer that b (grown by append, maybe
// reallocated) now stands for; bufpool.Put drops sizes it did not hand out.
func putPooled(bp *[]byte, b []byte) {
	*bp = b
	bufpool.Put(bp)
}

// appendPooled appends p to the pooled buffer (*b, *bp), taking one of at
// least hint bytes when none is held. A buffer that runs out is traded for
// a pooled one twice as large rather than regrown by append, so a stream
// of fragmented messages keeps recycling the same few buffers.
func appendPooled(b *[]byte, bp **[]byte, p []byte, hint int64) {
	need := len(*b) + len(p)
	if *bp == nil || need > cap(*b) {
		size := max(need, minPooledRead)
		if *bp == nil {
			size = max(size, int(min(hint, fbufInitial)))
		} else {
			size = max(size, 2*cap(*b))
		}
		nbp := bufpool.Get(size)
		nb := append((*nbp)[:0], *b...)
		if *bp != nil {
			putPooled(*bp, *b)
		}
		*bp, *b = nbp, nb
	}
	*b = append(*b, p...)
}

// minPooledRead is the smallest assembly buffer taken: fragments tend to
// come in runs, and a 4 KiB class is cheap to recycle.
const minPooledRead = 4 << 10

// initParser sets a parser's policy from the session: what the parser
// does not carry between frames is rebuilt from these fields each
// callback rather than kept per session.
func (s *Session) initParser(p *frame.Parser) {
	switch s.mode {
	case modeMessages:
		if s.opts.Client {
			p.Masking = frame.MaskForbidden
		} else {
			p.Masking = frame.MaskRequired
		}
	default:
		p.AllowedRsv = s.opts.AllowedRsv
	}
	if s.deflate() != nil {
		// The message layer checks where RSV1 may appear (msgBegin).
		p.AllowedRsv |= 0x40
	}
}

// read parses frames out of b on the loop and returns the bytes consumed.
// Payload bytes are unmasked in place: the loop's buffer is ours once
// offered. A frame whose payload is entirely in b is delivered as a view of
// b; one that arrives in pieces is assembled in a pooled buffer.
func (s *Session) read(b []byte) int {
	var local readState
	r := s.rd
	if r == nil {
		r = &local
		s.initParser(&r.parser)
	}
	n, frames := s.readFrames(r, b)
	s.countIn(frames, n)
	dead := s.flags.Load()&flagReadDead != 0
	// h, not r, goes to the pool: r may point at local, which must stay
	// on the stack.
	switch h := s.rd; {
	case h != nil:
		if dead || !h.busy() {
			// No need to zero h: whoever takes it next overwrites all of
			// it (*h = local), and releaseBufs dropped its references.
			s.rd = nil
			h.releaseBufs()
			readStatePool.put(h)
		}
	case dead:
		local.releaseBufs()
	case local.busy():
		h := readStatePool.get()
		*h = local
		s.rd = h
	}
	return n
}

// readFrames is read's loop over r; it returns the bytes consumed and the
// headers completed.
func (s *Session) readFrames(r *readState, b []byte) (n, frames int) {
	for n < len(b) {
		if s.flags.Load()&flagReadDead != 0 {
			return len(b), frames
		}
		if !r.inFrame {
			if s.mode != modeChannel && s.backlogged() {
				return n, frames
			}
			if st := s.stream(); st != nil && st.holdFrame() {
				return n, frames
			}
			r.parser.MaxFrameSize = s.frameLimit()
			k, done, err := r.parser.Parse(b[n:])
			n += k
			if err != nil {
				s.protocolError(err)
				return len(b), frames
			}
			if !done {
				r.inHeader = true
				return n, frames
			}
			r.inHeader = false
			r.hdr = r.parser.Header()
			frames++
			r.inFrame, r.got, r.maskPos = true, 0, 0
			if s.mode == modeMessages && !s.msgBegin(r) {
				return len(b), frames
			}
			if r.hdr.Length == 0 {
				r.inFrame = false
				if !s.frameDone(r, nil, true) {
					return n, frames
				}
				continue
			}
		}
		chunk := b[n:]
		if rem := r.hdr.Length - r.got; int64(len(chunk)) > rem {
			chunk = chunk[:rem]
		}
		if st := s.stream(); st != nil && r.hdr.Opcode.IsData() && !r.msg.compressed {
			// A streamed message takes only what its reader has room for;
			// the rest stays in the engine, paused, until it is read.
			room := st.room()
			if room == 0 {
				return n, frames
			}
			if len(chunk) > room {
				chunk = chunk[:room]
			}
		}
		if r.hdr.Masked {
			r.maskPos = uint8(Mask(r.hdr.Key, int(r.maskPos), chunk) & 3)
		}
		n += len(chunk)
		first := r.got == 0
		r.got += int64(len(chunk))
		last := r.got == r.hdr.Length
		if last {
			r.inFrame = false
		}
		if s.mode == modeMessages && r.hdr.Opcode.IsData() {
			s.msgData(r, chunk, last)
			continue
		}
		if first && last {
			if !s.frameDone(r, chunk, true) {
				return n, frames
			}
			continue
		}
		appendPooled(&r.fbuf, &r.fbp, chunk, r.hdr.Length)
		if last && !s.frameDone(r, r.fbuf, false) {
			return n, frames
		}
	}
	return n, frames
}

// frameDone hands a complete frame on (a view of the loop's buffer when
// view is true, else r.fbuf). It reports false when delivery stalled and
// reading must stop here.
func (s *Session) frameDone(r *readState, p []byte, view bool) bool {
	if s.mode == modeMessages {
		// Data frames go through msgData; only control frames get here.
		if r.hdr.Opcode.IsData() {
			s.msgData(r, p, true)
		} else {
			s.msgControl(r, p)
		}
		r.recycleFbuf()
		return true
	}
	h := &r.hdr
	if h.Opcode.IsData() {
		// Raw frames are not reassembled, so whether a message is open is
		// kept apart from the pooled reader state; the flag is written
		// only when a message opens or ends.
		if open := s.flags.Load()&flagInFrag != 0; !h.Fin && !open {
			s.flags.Or(flagInFrag)
		} else if h.Fin && open {
			s.flags.And(^flagInFrag)
		}
	}
	f := frame.Frame{Fin: h.Fin, Rsv1: h.Rsv&0x40 != 0, Rsv2: h.Rsv&0x20 != 0, Rsv3: h.Rsv&0x10 != 0, Opcode: h.Opcode, Payload: p}
	if s.mode == modeChannel && !view {
		// The assembled buffer becomes the frame's own payload.
		r.fbuf, r.fbp = nil, nil
	}
	ok := s.deliver(f, view)
	if s.mode == modeFrames {
		r.recycleFbuf()
	}
	return ok
}

// recycleFbuf gives the assembly buffer back once its frame is handled.
func (r *readState) recycleFbuf() {
	if r.fbp != nil {
		putPooled(r.fbp, r.fbuf)
		r.fbp, r.fbuf = nil, nil
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
	if s.queuedLocked() == 0 || s.sendClosed || s.closed || s.conn == nil {
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
	if s.wpaused && s.queuedLocked() > 0 {
		s.mu.Unlock()
		return true
	}
	s.wpaused = false
	s.mu.Unlock()
	c.ResumeRead()
	return false
}

// deliver hands a complete frame to the application. In channel mode it
// takes ownership of payload (copying it when view is true, i.e. when it
// points into the loop's buffer). It reports false when the frame could not
// be delivered now and reading must stop (channel mode, Incoming full).
func (s *Session) deliver(f frame.Frame, view bool) bool {
	switch f.Opcode {
	case frame.OpPing:
		if s.flags.Load()&flagAutoPong != 0 {
			s.enqueueControl(frame.OpPong, f.Payload)
		}
	case frame.OpPong:
		if c := s.cold.Load(); c != nil {
			if p := c.pongHook.Load(); p != nil {
				p.onPong(f.Payload)
			}
		}
	case frame.OpClose:
		s.flags.Or(flagPeerClose)
	}
	switch s.mode {
	case modeFrames:
		s.opts.Handler.OnFrame(s, f)
		if f.Opcode == frame.OpClose && s.flags.Load()&flagDrained != 0 {
			// A raw session answers nothing by itself: the peer's answer
			// to the drain's Close ends the connection.
			s.Terminate()
		}
		return true
	case modeChannel:
		if view {
			p := make([]byte, len(f.Payload))
			copy(p, f.Payload)
			f.Payload = p
		}
		select {
		case s.chans().incoming <- f:
			return true
		default:
		}
		s.stall(f)
		return false
	}
	return true
}
