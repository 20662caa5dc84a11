package deflate

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Decompression errors, wrapped with detail.
var (
	// ErrTooBig: the message inflates (or its compressed form alone grows)
	// beyond the size limit. Inflating stopped as soon as the limit was
	// passed; the session answers Close 1009.
	ErrTooBig = errors.New("deflate: message too big")
	// ErrCorrupt: the compressed bytes are not a valid DEFLATE piece, or
	// refer back further than the window the peer may rely on; the
	// session answers Close 1007.
	ErrCorrupt = errors.New("deflate: corrupt compressed message")
)

// WindowSize is the LZ77 window a context-takeover inflater keeps between
// messages: 2^MaxWindowBits bytes, whatever the peer negotiated, since a
// window limit only binds the compressing side.
const WindowSize = 1 << MaxWindowBits

// ChunkSize is the most that is inflated in one step; Inflate hands its
// sink pieces of at most this size and stops within one of them once the
// limit is passed.
const ChunkSize = 32 << 10

// inflateTail ends every message before inflating: the sync-flush tail the
// sender removed (RFC 7692 §7.2.2), then an empty final stored block so the
// inflater ends with io.EOF instead of waiting for a next block.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

var (
	readerPool sync.Pool // flateReader, shared by all connections
	chunkPool  = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}
	bufPool    sync.Pool // *[]byte compressed-message buffers
)

// bufKeep is the largest compressed-message buffer returned to the pool.
const bufKeep = 64 << 10

// source feeds the inflater a message's compressed bytes and then the tail,
// as an io.ByteReader so the implementation reads it directly, unbuffered.
type source struct {
	a, b []byte
}

func (s *source) Read(p []byte) (int, error) {
	if len(s.a) == 0 {
		s.a, s.b = s.b, nil
		if len(s.a) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, s.a)
	s.a = s.a[n:]
	return n, nil
}

func (s *source) ReadByte() (byte, error) {
	if len(s.a) == 0 {
		s.a, s.b = s.b, nil
		if len(s.a) == 0 {
			return 0, io.EOF
		}
	}
	c := s.a[0]
	s.a = s.a[1:]
	return c, nil
}

// Decompressor inflates the incoming messages of one connection. It is not
// safe for concurrent use: the session's reader feeds it messages in wire
// order. Between messages it holds nothing without context takeover and
// exactly WindowSize bytes with it; the inflater itself (tens of KiB) is
// pooled and held only while a message is being inflated.
type Decompressor struct {
	takeover bool
	max      int64   // output limit per message; <= 0 means none
	dict     []byte  // the last WindowSize bytes of output (takeover only)
	buf      *[]byte // compressed bytes of the message being received
	src      source
}

// NewDecompressor returns the decompressor for the messages this endpoint
// receives under p: a server's follows client_no_context_takeover, a
// client's server_no_context_takeover. maxMessage caps the inflated size of
// one message (<= 0: no cap).
func NewDecompressor(p Params, server bool, maxMessage int64) *Decompressor {
	d := &Decompressor{max: maxMessage}
	if server {
		d.takeover = !p.ClientNoContextTakeover
	} else {
		d.takeover = !p.ServerNoContextTakeover
	}
	return d
}

// Takeover reports whether the decompressor keeps a window between
// messages.
func (d *Decompressor) Takeover() bool { return d.takeover }

// SetMaxMessage changes the inflated-size cap for the next message.
func (d *Decompressor) SetMaxMessage(n int64) { d.max = n }

// MaxCompressed is the most a valid encoder needs to carry n bytes of any
// content: DEFLATE's worst-case expansion. Stored blocks cost 5 bytes per
// 64 KiB, and an encoder that never stores (fixed Huffman codes only)
// spends at most 9 bits per byte, so n + n/8 + 1 KiB leaves room for every
// encoder, while a stream of empty blocks that inflates to nothing still
// cannot grow without end. A limit on compressed frames or messages meant
// to admit n inflated bytes must be at least this; n <= 0 gives n.
func MaxCompressed(n int64) int64 {
	if n <= 0 {
		return n
	}
	return n + n/8 + 1024
}

// maxCompressed bounds the compressed bytes buffered for one message.
func (d *Decompressor) maxCompressed() int64 {
	if d.max <= 0 {
		return -1
	}
	return MaxCompressed(d.max)
}

// Write buffers the next compressed bytes of the current message (a copy:
// p may be reused when Write returns). The pieces may be split anywhere;
// Inflate or AppendInflate ends the message. It fails with ErrTooBig once
// the compressed bytes alone pass what the size limit allows.
func (d *Decompressor) Write(p []byte) (int, error) {
	if d.buf == nil {
		if b, ok := bufPool.Get().(*[]byte); ok {
			d.buf = b
		} else {
			d.buf = new([]byte)
		}
	}
	if lim := d.maxCompressed(); lim >= 0 && int64(len(*d.buf)+len(p)) > lim {
		d.Discard()
		return 0, fmt.Errorf("%w: compressed message passes %d bytes", ErrTooBig, lim)
	}
	*d.buf = append(*d.buf, p...)
	return len(p), nil
}

// Buffered is the number of compressed bytes held for the current message.
func (d *Decompressor) Buffered() int {
	if d.buf == nil {
		return 0
	}
	return len(*d.buf)
}

// Discard drops the current message's buffered bytes (the window of
// earlier messages stays).
func (d *Decompressor) Discard() {
	if d.buf != nil {
		*d.buf = (*d.buf)[:0]
		if cap(*d.buf) <= bufKeep {
			bufPool.Put(d.buf)
		}
		d.buf = nil
	}
}

// Inflate ends the current message: it inflates the bytes given to Write
// into w, in pieces of at most ChunkSize, and returns the inflated size.
// It stops with ErrTooBig as soon as the output passes the limit (having
// inflated at most the limit plus one chunk), and with ErrCorrupt on bad
// input; after an error the connection must be failed, since the window
// is no longer in step with the peer's. An error from w is returned as is.
func (d *Decompressor) Inflate(w io.Writer) (int64, error) {
	var src []byte
	if d.buf != nil {
		src = *d.buf
	}
	_, n, err := d.inflate(src, nil, w)
	d.Discard()
	return n, err
}

// AppendInflate is Inflate into a byte slice: it appends the message to
// dst and returns the extended slice.
func (d *Decompressor) AppendInflate(dst []byte) ([]byte, error) {
	var src []byte
	if d.buf != nil {
		src = *d.buf
	}
	dst, _, err := d.inflate(src, dst, nil)
	d.Discard()
	return dst, err
}

// AppendDecompress inflates one whole compressed message src (no Write
// before) and appends it to dst, without copying src: the fast path for a
// message that arrived in one piece. Errors as for Inflate.
func (d *Decompressor) AppendDecompress(dst, src []byte) ([]byte, error) {
	if lim := d.maxCompressed(); lim >= 0 && int64(len(src)) > lim {
		return dst, fmt.Errorf("%w: compressed message passes %d bytes", ErrTooBig, lim)
	}
	dst, _, err := d.inflate(src, dst, nil)
	return dst, err
}

// inflate runs the inflater over src and the tail. With w nil the output is
// appended to dst; else it goes to w through a pooled chunk.
func (d *Decompressor) inflate(src, dst []byte, w io.Writer) ([]byte, int64, error) {
	d.src = source{a: src, b: inflateTail}
	var dict []byte
	if d.takeover {
		dict = d.dict
	}
	fr, _ := readerPool.Get().(flateReader)
	if fr == nil {
		fr = newFlateReader(&d.src, dict)
	} else if err := fr.Reset(&d.src, dict); err != nil {
		return dst, 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer func() {
		d.src = source{}
		readerPool.Put(fr)
	}()
	var chunk *[]byte
	if w != nil {
		chunk = chunkPool.Get().(*[]byte)
		defer chunkPool.Put(chunk)
	}
	start := len(dst)
	var total int64
	for {
		// Never ask for more than one byte past the limit: the limit is
		// then seen as soon as it is passed.
		want := int64(ChunkSize)
		if d.max > 0 && d.max-total+1 < want {
			want = d.max - total + 1
		}
		var p []byte
		if w != nil {
			p = (*chunk)[:want]
		} else {
			// Use the spare capacity the caller gave; grow (doubling,
			// never past the limit) only when little is left.
			if spare := int64(cap(dst) - len(dst)); spare < want && spare < 1024 {
				grow := min(max(int64(len(dst)-start), 4096), want)
				dst = append(dst[:cap(dst)], make([]byte, grow)...)[:len(dst)]
			}
			p = dst[len(dst):min(cap(dst), len(dst)+int(want))]
		}
		n, err := fr.Read(p)
		total += int64(n)
		if d.max > 0 && total > d.max {
			return dst[:start], total, fmt.Errorf("%w: more than %d bytes inflated", ErrTooBig, d.max)
		}
		if n > 0 {
			if w != nil {
				if d.takeover {
					d.remember(p[:n])
				}
				if _, werr := w.Write(p[:n]); werr != nil {
					return dst, total, werr
				}
			} else {
				dst = dst[:len(dst)+n]
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// The source never fails, so any error is about the bytes:
			// corrupt input, or a piece that ends inside a block.
			return dst[:start], total, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	if d.takeover && w == nil {
		d.remember(dst[start:])
	}
	return dst, total, nil
}

// remember keeps the last WindowSize bytes of output for the next message.
func (d *Decompressor) remember(p []byte) {
	if d.dict == nil {
		d.dict = make([]byte, 0, WindowSize)
	}
	if len(p) >= WindowSize {
		d.dict = append(d.dict[:0], p[len(p)-WindowSize:]...)
		return
	}
	if over := len(d.dict) + len(p) - WindowSize; over > 0 {
		d.dict = d.dict[:copy(d.dict, d.dict[over:])]
	}
	d.dict = append(d.dict, p...)
}

// Release drops the window and any buffered message; the decompressor
// must not be used afterwards.
func (d *Decompressor) Release() {
	d.Discard()
	d.dict = nil
}
