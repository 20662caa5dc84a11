package rawws

import (
	"errors"
	"sync"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
	"github.com/rawws/rawws/internal/deflate"
)

// Compression configures permessage-deflate (RFC 7692) for a session's
// handshake: set Options.Compression and UpgradeHTTP, the App endpoints and
// Dial negotiate it (a server accepts the first acceptable offer, a client
// offers it and checks the answer). The zero value offers or accepts plain
// permessage-deflate: context takeover both ways, level 1, messages under
// 128 bytes sent uncompressed.
//
// In message mode a negotiated session compresses every whole message it
// sends (SendText, SendBinary, SendCopy, and Send of a final text or
// binary frame with Rsv1 clear; a message sent in fragments goes out
// uncompressed) and inflates every compressed message it receives before
// OnMessage; Options.MaxMessageSize caps the inflated size and inflating
// stops as soon as it is passed (Close 1009, ErrMessageTooBig), so a
// decompression bomb costs at most that much work. The frame limit
// (Options.MaxFrameSize, by default MaxMessageSize) then leaves room for
// DEFLATE's worst-case expansion (an eighth more, plus 1 KiB): a message
// of incompressible data at the limit travels in a frame slightly larger
// than it and is accepted, while an uncompressed frame is held to the
// frame limit as given (MaxFrameSize reports it unchanged). Undecodable data is answered with Close 1007. In the raw
// modes the extension is only negotiated: frames with Rsv1 are delivered
// and sent as they are, under the frame limit as given.
//
// Memory per connection between messages (compress/flate, see
// internal/deflate): context takeover on the sending side keeps a DEFLATE
// writer of about 1.2 MB at level 1 (0.8 MB at levels 2–9); without it
// writers are pooled and nothing stays. Takeover on the receiving side
// keeps the 32 KiB window. A server with many connections should set
// ServerNoContextTakeover.
type Compression struct {
	// Level is the DEFLATE level: 1 (fastest, the default for 0) to 9, or
	// -2 for Huffman-only coding.
	Level int
	// Threshold: messages shorter than this many bytes go out
	// uncompressed. 0 means 128; negative compresses every message.
	Threshold int
	// ServerNoContextTakeover: a server compresses each message on its
	// own (and says so); a client asks the server to.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: a server asks the client to compress each
	// message on its own, so it keeps no 32 KiB window per connection; a
	// client offers to.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits (8..15, 0 for none) and ClientMaxWindowBits
	// (8..15, 0 for none; 15 offers the valueless parameter browsers send)
	// are the window parameters of RFC 7692 §7.1.2. A window below 15 on
	// our sending side is honoured by compressing without context takeover
	// and sending longer messages uncompressed.
	ServerMaxWindowBits int
	ClientMaxWindowBits int
}

func (c *Compression) settings() deflate.Settings {
	return deflate.Settings{
		Level:                   c.Level,
		Threshold:               c.Threshold,
		ServerNoContextTakeover: c.ServerNoContextTakeover,
		ClientNoContextTakeover: c.ClientNoContextTakeover,
		ServerMaxWindowBits:     c.ServerMaxWindowBits,
		ClientMaxWindowBits:     c.ClientMaxWindowBits,
	}
}

// pmd is a session's negotiated permessage-deflate state.
type pmd struct {
	ext  string // the agreed Sec-WebSocket-Extensions value
	mu   sync.Mutex
	comp *deflate.Compressor   // guarded by mu, which is taken before Session.mu
	dec  *deflate.Decompressor // loop only
	// lastSize is the last inflated message's size (loop only): the next
	// one's buffer is taken at least that big, so a stream of large
	// messages does not regrow a buffer each time.
	lastSize int
}

// acceptCompression is the server's negotiation: it returns the response
// value ("" when the extension is not used) and the parameters.
func acceptCompression(c *Compression, offers string) (deflate.Params, string) {
	if c == nil {
		return deflate.Params{}, ""
	}
	p, resp, ok := deflate.Accept(offers, c.settings())
	if !ok {
		return deflate.Params{}, ""
	}
	return p, resp
}

// enableCompression switches permessage-deflate on for a session that is
// not attached yet, with the parameters of its handshake.
func (s *Session) enableCompression(c *Compression, p deflate.Params, ext string, server bool) {
	z := &pmd{ext: ext}
	if s.mode == modeMessages {
		st := c.settings()
		z.comp = deflate.NewCompressor(st, p, server)
		z.dec = deflate.NewDecompressor(p, server, s.opts.maxMessageSize())
	}
	s.coldState().pmd = z
}

// frameLimit is the limit the parser applies to a frame header: the
// session's MaxFrameSize, with room for DEFLATE's worst-case expansion when
// messages may arrive compressed (their inflated size is what is capped, so
// the frame limit only has to stop what no encoder would send). msgBegin
// holds a frame that turns out to be plain to MaxFrameSize itself.
func (s *Session) frameLimit() int64 {
	lim := s.MaxFrameSize()
	if lim > 0 && s.mode == modeMessages && s.deflate() != nil {
		return deflate.MaxCompressed(lim)
	}
	return lim
}

// Extensions returns the Sec-WebSocket-Extensions value the handshake
// agreed on ("" for none).
func (s *Session) Extensions() string {
	z := s.deflate()
	if z == nil {
		return ""
	}
	return z.ext
}

// compressing returns z when f is a whole text or binary message that the
// session compresses (message mode, negotiated, over the threshold), else
// nil. It reads only what is fixed at the handshake.
func (z *pmd) compressing(f *frame.Frame) *pmd {
	if z == nil || z.comp == nil || !f.Fin || f.Rsv1 || (f.Opcode != frame.OpText && f.Opcode != frame.OpBinary) ||
		!z.comp.Worth(len(f.Payload)) {
		return nil
	}
	return z
}

// compressUnlocked replaces f's payload by its compressed form in a pooled
// buffer and sets Rsv1. It is called with mu and z.mu held and releases mu
// while compressing, so the loop never waits on mu for a compression; z.mu
// keeps the compressed messages in order. When the session stopped sending
// meanwhile it returns ErrClosed (the compressor may then have moved past
// the peer's window, which no longer matters). A message that did not
// shrink stays as it was (nil buffer).
func (s *Session) compressUnlocked(z *pmd, f *frame.Frame) (*[]byte, error) {
	s.mu.Unlock()
	bp := bufpool.Get(len(f.Payload)/2 + 64)
	out, ok, err := z.comp.Compress((*bp)[:0], f.Payload)
	s.mu.Lock()
	if s.sendClosed {
		bufpool.Put(bp)
		if s.closed {
			// OnClose could not take z.mu to release the compressor.
			z.comp.Release()
		}
		return nil, s.closedErrLocked("send "+f.Opcode.String(), nil)
	}
	if err != nil || !ok {
		bufpool.Put(bp)
		return nil, nil
	}
	// A result larger than the pooled buffer was reallocated; bufpool.Put drops
	// buffers of a size it did not hand out.
	*bp = out
	f.Payload, f.Rsv1 = out, true
	return bp, nil
}

// Errors of the compressed message path.
var errBadCompressed = &frame.ProtocolError{Code: frame.CloseInvalidPayload, Reason: "invalid compressed data"}

// msgInflate ends a compressed message: it inflates what was received
// (whole is the message's only chunk when it came in one piece, else the
// bytes given to the decompressor) and delivers it.
func (s *Session) msgInflate(m *msgState, whole []byte, oneChunk bool) {
	z := s.deflate()
	d := z.dec
	if m.bp == nil {
		m.bp = bufpool.Get(max(inflateInitial, min(z.lastSize, fbufInitial)))
	}
	var out []byte
	var err error
	if oneChunk {
		out, err = d.AppendDecompress((*m.bp)[:0], whole)
	} else {
		out, err = d.AppendInflate((*m.bp)[:0])
	}
	m.inMsg, m.compressed = false, false
	// The inflated message lives in the pooled buffer (or what append
	// grew it into) until it is handled; then it goes back.
	m.buf = out
	z.lastSize = len(out)
	defer m.release()
	if err != nil {
		if errors.Is(err, deflate.ErrTooBig) {
			s.fail(frame.CloseTooBig, "message too big", ErrMessageTooBig)
		} else {
			s.fail(frame.CloseInvalidPayload, errBadCompressed.Reason, errors.Join(errBadCompressed, err))
		}
		return
	}
	if m.op == frame.OpText && !frame.ValidUTF8(out) {
		s.fail(frame.CloseInvalidPayload, errBadUTF8.Reason, errBadUTF8)
		return
	}
	s.opts.MessageHandler.OnMessage(s, m.op, out)
}

// inflateInitial is the buffer an inflated message starts in; a larger
// one grows it.
const inflateInitial = 4 << 10

// releaseCompression gives back the compressor's pooled writer once the
// session is closed. A sender compressing right now holds z.mu; it sees the
// session closed when it is done and releases the writer itself, so the
// loop never waits for a compression here.
func (s *Session) releaseCompression() {
	z := s.deflate()
	if z == nil || z.comp == nil || !z.mu.TryLock() {
		return
	}
	z.comp.Release()
	z.mu.Unlock()
}

// msgCompressedData takes the next compressed bytes of a message; end says
// they finish it. A message that arrived whole in the loop's buffer is
// inflated from there; one in pieces is collected by the decompressor
// (which caps the compressed bytes) first.
func (s *Session) msgCompressedData(r *readState, chunk []byte, end bool) {
	m := &r.msg
	d := s.deflate().dec
	if end && m.size == 0 && d.Buffered() == 0 {
		m.size = int64(len(chunk))
		s.msgInflate(m, chunk, true)
		return
	}
	m.size += int64(len(chunk))
	if _, err := d.Write(chunk); err != nil {
		s.fail(frame.CloseTooBig, "message too big", ErrMessageTooBig)
		return
	}
	if end {
		s.msgInflate(m, nil, false)
	}
}
