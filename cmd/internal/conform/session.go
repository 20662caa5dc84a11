package conform

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rawws/rawws/internal/deflate"
)

// maxTrace bounds the trace kept per case: enough to see what happened
// without a 65536-frame case printing 65536 lines.
const maxTrace = 48

// event is what the reader goroutine hands to the case: a frame, or the
// error that ended the stream.
type event struct {
	f   rframe
	err error
}

// session is one case's connection: the runner's side of a WebSocket
// client that will write anything it is told to.
type session struct {
	c       net.Conn
	ev      chan event
	timeout time.Duration
	trace   []string
	dropped int

	// reassembly of the server's fragmented messages
	inMsg  bool
	msgOp  byte
	msgBuf []byte

	// permessage-deflate, when negotiated: the server's compressed
	// messages (RSV1 on the first frame) are inflated here.
	inflater   *deflate.Decompressor
	msgZ       bool // the message being reassembled is compressed
	compressed int  // compressed messages received

	eof      bool
	writeErr error
	sent     int64 // bytes written, for the wait allowance of big cases
}

// dial opens a TCP connection, runs the handshake and starts the frame
// reader. The returned session must be closed with close().
func dial(t target, timeout time.Duration, o handshakeOpts) (*session, int, error) {
	c, err := net.DialTimeout("tcp", t.hostport, timeout)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	r, status, err := handshake(c, t, o, time.Now().Add(timeout))
	if err != nil || status != 101 {
		_ = c.Close()
		return nil, status, err
	}
	_ = c.SetDeadline(time.Time{})
	s := &session{c: c, ev: make(chan event, 256), timeout: timeout}
	go s.readLoop(r)
	return s, status, nil
}

func (s *session) readLoop(r *bufio.Reader) {
	defer close(s.ev)
	for {
		f, err := readFrame(r)
		if err != nil {
			s.ev <- event{err: err}
			return
		}
		s.ev <- event{f: f}
	}
}

func (s *session) close() {
	_ = s.c.Close()
	// Drain so the reader goroutine, unblocked by the close, can end.
	for range s.ev {
	}
}

func (s *session) logf(format string, args ...any) {
	if len(s.trace) >= maxTrace {
		s.dropped++
		return
	}
	s.trace = append(s.trace, fmt.Sprintf(format, args...))
}

// traceLines returns the trace with a note on what was left out.
func (s *session) traceLines() []string {
	if s.dropped == 0 {
		return s.trace
	}
	return append(s.trace, fmt.Sprintf("... %d more trace lines left out", s.dropped))
}

// step is one thing a case does on the wire.
type step struct {
	frames []wframe
	// chop > 0 writes the encoded frames in writes of chop bytes; 0 writes
	// all the step's frames in one write.
	chop int
	// each writes every frame with its own write call.
	each bool
	// raw bytes written as they are (after frames).
	raw []byte
	// pause waits before the step.
	pause time.Duration
}

// send performs the steps. Write errors are remembered and traced but do
// not stop the case: a server that failed the connection makes writes fail
// and that is the expected outcome of many cases.
func (s *session) send(steps ...step) {
	for _, st := range steps {
		if st.pause > 0 {
			time.Sleep(st.pause)
			s.logf("  pause %v", st.pause)
		}
		if s.writeErr != nil {
			s.logf("> (skipped, earlier write failed)")
			continue
		}
		var buf []byte
		for i, f := range st.frames {
			if len(st.frames) > 8 && i == 4 {
				s.logf("> ... %d more frames like these", len(st.frames)-8)
			}
			if len(st.frames) <= 8 || i < 4 || i >= len(st.frames)-4 {
				s.logf("> %s%s", describeW(f), chopNote(st.chop))
			}
			buf = f.encode(buf)
			if st.each {
				s.write(buf, st.chop)
				buf = buf[:0]
			}
		}
		buf = append(buf, st.raw...)
		if len(st.raw) > 0 {
			s.logf("> raw %d bytes %s", len(st.raw), quote(st.raw))
		}
		if len(buf) > 0 {
			s.write(buf, st.chop)
		}
	}
}

func (s *session) write(b []byte, chop int) {
	if s.writeErr != nil {
		return
	}
	_ = s.c.SetWriteDeadline(time.Now().Add(s.timeout))
	s.sent += int64(len(b))
	if err := writeChopped(s.c, b, chop); err != nil {
		s.writeErr = err
		s.logf("  write error: %v", shortErr(err))
	}
}

func chopNote(chop int) string {
	if chop > 0 {
		return " (in " + strconv.Itoa(chop) + "-byte writes)"
	}
	return ""
}

// itemKind classifies what the server did next, at message level.
type itemKind int

const (
	itMessage   itemKind = iota // a complete text or binary message
	itPong                      // a pong frame
	itClose                     // a close frame
	itEOF                       // the TCP connection ended
	itTimeout                   // nothing within the timeout
	itViolation                 // the server broke the protocol
)

// item is one thing the server did.
type item struct {
	kind   itemKind
	op     byte
	data   []byte
	code   int // close code; -1 for a close without a status
	reason string
	detail string
}

func (it item) String() string {
	switch it.kind {
	case itMessage:
		return fmt.Sprintf("%s message len=%d %s", opName(it.op), len(it.data), quote(it.data))
	case itPong:
		return fmt.Sprintf("pong len=%d %s", len(it.data), quote(it.data))
	case itClose:
		if it.code < 0 {
			return "close (no status)"
		}
		return fmt.Sprintf("close %d %q", it.code, clip(it.reason, 24))
	case itEOF:
		return "TCP closed" + it.detail
	case itTimeout:
		return "nothing (timeout)"
	}
	return "protocol violation: " + it.detail
}

func msg(op byte, data []byte) item { return item{kind: itMessage, op: op, data: data} }
func textMsg(s string) item         { return msg(opText, []byte(s)) }
func pong(data []byte) item         { return item{kind: itPong, data: data} }

// sameItem reports whether got is the echo want describes.
func sameItem(want, got item) bool {
	if want.kind != got.kind {
		return false
	}
	switch want.kind {
	case itMessage:
		return want.op == got.op && string(want.data) == string(got.data)
	case itPong:
		return string(want.data) == string(got.data)
	}
	return true
}

// next returns the server's next message-level item, waiting at most the
// session timeout. Server pings are answered and not returned.
func (s *session) next() item {
	// A server may still be chewing on megabytes the kernel buffered for
	// it when the last write returned: allow a second per 8 MiB sent.
	return s.nextWithin(s.timeout + time.Duration(s.sent>>23)*time.Second)
}

func (s *session) nextWithin(d time.Duration) item {
	if s.eof {
		return item{kind: itEOF}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		var e event
		var ok bool
		select {
		case e, ok = <-s.ev:
		case <-timer.C:
			s.logf("< (nothing within %v)", d)
			return item{kind: itTimeout}
		}
		if !ok || e.err != nil {
			s.eof = true
			it := item{kind: itEOF}
			if ok && !errors.Is(e.err, io.EOF) {
				it.detail = " (" + shortErr(e.err) + ")"
			}
			s.logf("< %s", it)
			return it
		}
		it, done := s.frameItem(e.f)
		if done {
			return it
		}
	}
}

// frameItem checks one server frame and folds it into message reassembly.
// done is false when the frame was only part of something.
func (s *session) frameItem(f rframe) (item, bool) {
	viol := func(d string) (item, bool) {
		s.logf("< %s: %s", describeR(f), d)
		return item{kind: itViolation, detail: d}, true
	}
	switch {
	case f.masked:
		return viol("server frame is masked (RFC 6455 §5.1)")
	case f.rsv == 0x40 && s.inflater != nil && f.op >= 8:
		return viol("RSV1 on a control frame (RFC 7692 §6)")
	case f.rsv == 0x40 && s.inflater != nil && f.op == opCont:
		return viol("RSV1 on a continuation frame (RFC 7692 §6)")
	case f.rsv != 0 && !(f.rsv == 0x40 && s.inflater != nil):
		return viol("RSV bits set without a negotiated extension")
	case (f.op >= 3 && f.op <= 7) || f.op >= 0xB:
		return viol("reserved opcode")
	case f.op >= 8 && (!f.fin || len(f.payload) > 125):
		return viol("control frame fragmented or longer than 125 bytes")
	}
	switch f.op {
	case opPing:
		s.logf("< %s (answered)", describeR(f))
		s.write(wframe{fin: true, op: opPong, payload: f.payload}.encode(nil), 0)
		return item{}, false
	case opPong:
		s.logf("< %s", describeR(f))
		return pong(f.payload), true
	case opClose:
		s.logf("< %s", describeR(f))
		it := item{kind: itClose, code: -1}
		switch {
		case len(f.payload) == 1:
			return item{kind: itViolation, detail: "server sent a close frame with a 1-byte payload"}, true
		case len(f.payload) >= 2:
			it.code = int(binary.BigEndian.Uint16(f.payload))
			it.reason = string(f.payload[2:])
		}
		return it, true
	case opCont:
		if !s.inMsg {
			return viol("continuation frame with no message in progress")
		}
	default:
		if s.inMsg {
			return viol("new data frame before the last message was finished")
		}
		s.inMsg, s.msgOp, s.msgBuf = true, f.op, s.msgBuf[:0]
		s.msgZ = f.rsv == 0x40
	}
	s.msgBuf = append(s.msgBuf, f.payload...)
	if !f.fin {
		s.logf("< %s", describeR(f))
		return item{}, false
	}
	s.inMsg = false
	data := append([]byte(nil), s.msgBuf...)
	if s.msgZ {
		var err error
		if data, err = s.inflater.AppendDecompress(nil, s.msgBuf); err != nil {
			return viol("compressed message does not inflate: " + err.Error())
		}
		s.compressed++
	}
	it := msg(s.msgOp, data)
	s.logf("< %s", it)
	return it, true
}

// expectAll reads len(want) items and compares them in order.
func (s *session) expectAll(want []item) (item, error) {
	for i, w := range want {
		got := s.next()
		if !sameItem(w, got) {
			return got, fmt.Errorf("expected #%d %s, got %s", i+1, w, got)
		}
	}
	return item{}, nil
}

// awaitEOF waits for the server to close TCP, skipping anything it still
// sends.
func (s *session) awaitEOF() bool {
	deadline := time.Now().Add(s.timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		switch s.nextWithin(left).kind {
		case itEOF:
			return true
		case itTimeout:
			return false
		}
	}
}

func closePayload(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}

// closeNormally runs the client-initiated close handshake that ends a
// case that went well: the server must answer 1000 and close TCP.
func (s *session) closeNormally() (Verdict, string) {
	s.send(step{frames: []wframe{{fin: true, op: opClose, payload: closePayload(1000, "")}}})
	for {
		got := s.next()
		switch got.kind {
		case itClose:
			if got.code != 1000 && got.code != -1 {
				return Failed, fmt.Sprintf("answered close 1000 with %s", got)
			}
			if !s.awaitEOF() {
				return Failed, "server did not close TCP after the close handshake"
			}
			return OK, ""
		case itEOF:
			return Failed, "server closed TCP without answering the close frame"
		case itTimeout:
			return Failed, "server did not answer the close frame"
		case itViolation:
			return Failed, got.detail
		default:
			return Failed, fmt.Sprintf("unexpected %s after everything was echoed", got)
		}
	}
}

func opName(op byte) string {
	switch op {
	case opCont:
		return "cont"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return fmt.Sprintf("op%#x", op)
}

func frameDesc(fin bool, rsv, op byte, payload []byte, masked bool) string {
	var b strings.Builder
	b.WriteString(opName(op))
	if !fin {
		b.WriteString(" fin=0")
	}
	if rsv != 0 {
		fmt.Fprintf(&b, " rsv=%d", rsv>>4)
	}
	if masked {
		b.WriteString(" masked")
	}
	fmt.Fprintf(&b, " len=%d", len(payload))
	if op == opClose && len(payload) >= 2 {
		fmt.Fprintf(&b, " code=%d", binary.BigEndian.Uint16(payload))
		payload = payload[2:]
	}
	if len(payload) > 0 {
		b.WriteString(" " + quote(payload))
	}
	return b.String()
}

func describeW(f wframe) string {
	d := frameDesc(f.fin, f.rsv, f.op, f.payload, false)
	if f.unmasked {
		d += " UNMASKED"
	}
	if f.declared != 0 {
		d += fmt.Sprintf(" declared-len=%#x", f.declared)
	}
	if f.lenForm != 0 {
		d += fmt.Sprintf(" len-form=%d", f.lenForm)
	}
	return d
}

func describeR(f rframe) string { return frameDesc(f.fin, f.rsv, f.op, f.payload, f.masked) }

// quote shows a short payload: as a Go string when it is readable UTF-8,
// as hex otherwise; long payloads are cut.
func quote(b []byte) string {
	const n = 16
	cut := ""
	if len(b) > n {
		b, cut = b[:n], "…"
	}
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return r < 0x20 }) {
		return strconv.Quote(string(b)) + cut
	}
	return fmt.Sprintf("%x", b) + cut
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func shortErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
