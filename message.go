package rawws

import (
	"errors"

	"github.com/rawws/rawws/frame"
)

// msgState is the message layer's reassembly state (loop only).
type msgState struct {
	inMsg bool         // a fragmented message has started and not ended
	op    frame.Opcode // its opcode (text or binary)
	size  int64        // payload bytes of the message so far
	buf   []byte       // reassembly buffer, in the pooled bp while a message needs one
	bp    *[]byte
	utf8  frame.UTF8
	// compressed: the message's first frame had RSV1 (permessage-deflate);
	// its bytes go to the session's decompressor.
	compressed bool
}

// msgBegin applies the message rules to a new frame header (RFC 6455 §5.4,
// §5.5): no continuation without a message, no new data frame inside an
// unfinished one, and the message size cap (checked on the header, before
// any payload). It reports false when the session failed.
func (s *Session) msgBegin(r *readState) bool {
	h := &r.hdr
	m := &r.msg
	if h.Rsv&0x40 != 0 && (h.Opcode.IsControl() || h.Opcode == frame.OpContinuation) {
		// The parser lets RSV1 through once permessage-deflate is on; it
		// belongs only on a message's first frame (RFC 7692 §6).
		s.fail(frame.CloseProtocolError, errRsv1.Reason, errRsv1)
		return false
	}
	if h.Opcode.IsControl() {
		return true
	}
	if h.Opcode == frame.OpContinuation {
		if !m.inMsg {
			s.fail(frame.CloseProtocolError, "continuation frame without a message", errContinuation)
			return false
		}
	} else {
		if m.inMsg {
			s.fail(frame.CloseProtocolError, "new message inside an unfinished one", errInterleaved)
			return false
		}
		m.inMsg, m.op, m.size = true, h.Opcode, 0
		m.compressed = h.Rsv&0x40 != 0
		m.utf8.Reset()
		if st := s.stream(); st != nil {
			st.begin(h.Opcode)
		}
	}
	// The parser gave frames deflate's headroom (frameLimit); a plain one
	// gets none.
	if lim := s.MaxFrameSize(); !m.compressed && lim > 0 && h.Length > lim && s.deflate() != nil {
		s.fail(frame.CloseTooBig, "frame too big", ErrFrameTooBig)
		return false
	}
	// A compressed message is capped on its inflated size (and its
	// compressed bytes by the decompressor), not here; a streamed one by
	// its reader (Read), as only the reader knows whether it is whole.
	if max := s.opts.maxMessageSize(); max > 0 && !m.compressed && m.size+h.Length > max && s.stream() == nil {
		s.fail(frame.CloseTooBig, "message too big", ErrMessageTooBig)
		return false
	}
	return true
}

// Message-layer protocol errors; the session's Err wraps the
// *frame.ProtocolError the peer earned.
var (
	errContinuation = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "continuation frame without a message"}
	errInterleaved  = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "new message inside an unfinished one"}
	errBadUTF8      = &frame.ProtocolError{Code: frame.CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}
	errRsv1         = &frame.ProtocolError{Code: frame.CloseProtocolError, Reason: "RSV1 on a control or continuation frame"}
)

// msgData takes the next unmasked payload bytes of a data frame; last says
// they end the frame. Text is validated as it arrives, so the session fails
// with 1007 at the first invalid byte even mid-frame. A message that
// arrived whole in the loop's buffer is delivered as a view of it.
func (s *Session) msgData(r *readState, chunk []byte, last bool) {
	m := &r.msg
	if m.compressed {
		s.msgCompressedData(r, chunk, last && r.hdr.Fin)
		return
	}
	if m.op == frame.OpText {
		if _, ok := m.utf8.Feed(chunk); !ok {
			s.fail(frame.CloseInvalidPayload, errBadUTF8.Reason, errBadUTF8)
			return
		}
	}
	m.size += int64(len(chunk))
	end := last && r.hdr.Fin
	if st := s.stream(); st != nil {
		if end {
			m.inMsg = false
			if m.op == frame.OpText && !m.utf8.Complete() {
				s.fail(frame.CloseInvalidPayload, errBadUTF8.Reason, errBadUTF8)
				return
			}
		}
		st.push(chunk, end)
		return
	}
	if end && len(m.buf) == 0 && m.size == int64(len(chunk)) {
		s.msgDone(m, chunk)
		return
	}
	appendPooled(&m.buf, &m.bp, chunk, r.hdr.Length)
	if end {
		s.msgDone(m, m.buf)
		m.release()
	}
}

// release gives the reassembly buffer back once its message is handled.
func (m *msgState) release() {
	if m.bp != nil {
		putPooled(m.bp, m.buf)
		m.bp, m.buf = nil, nil
	}
}

// msgDone delivers a complete message.
func (s *Session) msgDone(m *msgState, p []byte) {
	m.inMsg = false
	if m.op == frame.OpText && !m.utf8.Complete() {
		s.fail(frame.CloseInvalidPayload, errBadUTF8.Reason, errBadUTF8)
		return
	}
	s.opts.MessageHandler.OnMessage(s, m.op, p)
}

// msgControl handles a complete control frame in message mode: pings are
// answered with the same payload, pongs go to a Pinger, and a Close is
// validated, echoed (code only) and ends the session once written.
func (s *Session) msgControl(r *readState, p []byte) {
	switch r.hdr.Opcode {
	case frame.OpPing:
		s.enqueueControl(frame.OpPong, p)
	case frame.OpPong:
		if c := s.cold.Load(); c != nil {
			if pg := c.pongHook.Load(); pg != nil {
				pg.onPong(p)
			}
		}
	case frame.OpClose:
		r, err := frame.ParseCloseReason(p)
		if err != nil {
			var pe *frame.ProtocolError
			if errors.As(err, &pe) {
				s.fail(pe.Code, pe.Reason, pe)
			} else {
				s.fail(frame.CloseProtocolError, "bad close frame", err)
			}
			return
		}
		if s.flags.Load()&flagCloseSent == 0 {
			// The peer started the close: that is why the session ends.
			// Its answer to a Close of ours is no error, only the end of
			// a close we asked for.
			s.setErr(&CloseError{Code: r.Code, Reason: r.Text})
		}
		s.flags.Or(flagReadDead)
		s.streamAbort()
		var echo []byte
		if r.Code != frame.CloseNoStatus {
			echo = p[:2]
		}
		// enqueueControl refuses it when our own Close went out first: then
		// this frame is the peer's answer and only the TCP close is left.
		s.enqueueControl(frame.OpClose, echo)
		s.Terminate()
	}
}
