package body

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
)

// Limits of the chunked decoder. A peer controls every byte of a chunked body, so the
// decoder bounds what it must hold in memory at once: one size line and the trailer block.
const (
	// MaxChunkLineBytes bounds one chunk-size line, extensions and the CRLF included.
	// It is also the size of the read buffer the decoder adds when r is not a *bufio.Reader.
	MaxChunkLineBytes = 4096
	// MaxChunkTrailerBytes bounds the trailer section, every CRLF (and the final empty line) included.
	MaxChunkTrailerBytes = 16 << 10
	// MaxChunkTrailerFields bounds the number of trailer field lines.
	MaxChunkTrailerFields = 64
)

// Errors of the chunked decoder and writer. The decoder wraps them with what it saw
// (fmt.Errorf("...: %w")), so test them with errors.Is.
var (
	// ErrChunkSize: a chunk-size is empty or holds a byte that is not a hex digit.
	ErrChunkSize = errors.New("http: invalid chunk size")
	// ErrChunkSizeOverflow: a chunk-size does not fit in an int64.
	ErrChunkSizeOverflow = errors.New("http: chunk size overflows int64")
	// ErrChunkLineTooLong: a chunk-size line, extensions included, exceeds MaxChunkLineBytes.
	ErrChunkLineTooLong = errors.New("http: chunk size line too long")
	// ErrChunkExtension: a chunk extension holds a control byte (other than HTAB).
	ErrChunkExtension = errors.New("http: invalid chunk extension")
	// ErrChunkCRLF: a line ends with a bare LF or a lone CR, or chunk data is not followed by CRLF.
	ErrChunkCRLF = errors.New("http: chunked encoding: expected CRLF")
	// ErrChunkTrailerTooLarge: the trailer section exceeds MaxChunkTrailerBytes or MaxChunkTrailerFields.
	ErrChunkTrailerTooLarge = errors.New("http: chunked trailer section too large")
	// ErrChunkTrailer: a trailer line is not "name: value" with a token name and a clean value.
	ErrChunkTrailer = errors.New("http: invalid chunked trailer field")
	// ErrChunkReaderClosed: Read after Close.
	ErrChunkReaderClosed = errors.New("http: read on closed chunked reader")
	// ErrChunkWriterClosed: Write or Close after Close.
	ErrChunkWriterClosed = errors.New("http: write on closed chunked writer")
)

type chunkState uint8

const (
	chunkSize    chunkState = iota // expecting a chunk-size line
	chunkData                      // inside chunk data, n bytes left
	chunkDataEnd                   // expecting the CRLF after chunk data
	chunkTrailer                   // after the last chunk, reading trailer lines
	chunkDone                      // the whole message body was decoded
)

// ChunkedReader decodes an HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) as a stream.
// It holds at most one size line or one trailer block in memory, never a chunk.
//
// It is not safe for concurrent use. Read blocks as long as the underlying reader blocks.
// If the reader given to DecodeChunked is a *bufio.Reader, the decoder reads from it
// directly and consumes nothing after the final CRLF, so the caller can go on parsing
// (the next pipelined request); otherwise it adds a buffer of MaxChunkLineBytes and
// may read past the end of the chunked body.
type ChunkedReader struct {
	r        *bufio.Reader
	state    chunkState
	n        int64 // bytes left in the current chunk
	err      error // sticky
	trailer  textproto.MIMEHeader
	trBytes  int
	trFields int
	line     []byte // scratch for lines split across a small caller buffer
}

// DecodeChunked returns a decoder reading the chunked body from r. Read returns the
// decoded data and io.EOF after the last chunk and the trailer section; errors are
// sticky and wrap one of the ErrChunk* values, or io.ErrUnexpectedEOF when r ends early.
func DecodeChunked(r io.Reader) *ChunkedReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, MaxChunkLineBytes)
	}
	return &ChunkedReader{r: br}
}

// Trailer returns the trailer fields with canonical keys once Read has returned io.EOF,
// and nil before (or when the body had none). The map is owned by the caller. Fields are
// as received: whether one may be merged into the header section (RFC 9110 §6.5.2) is the
// caller's decision.
func (c *ChunkedReader) Trailer() textproto.MIMEHeader {
	if c.state != chunkDone {
		return nil
	}
	return c.trailer
}

// Close releases the decoder. It does not drain the rest of the body: a server that wants
// to reuse the connection must read to io.EOF first. Close always returns nil.
func (c *ChunkedReader) Close() error {
	if c.err == nil || c.err == io.EOF {
		c.err = ErrChunkReaderClosed
	}
	c.r = nil
	c.line = nil
	return nil
}

// Read implements io.Reader.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		switch c.state {
		case chunkSize:
			c.err = c.readSize()
		case chunkData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > c.n {
				p = p[:c.n]
			}
			n, err := c.r.Read(p)
			c.n -= int64(n)
			if c.n == 0 {
				c.state = chunkDataEnd
			}
			if err == io.EOF && c.n > 0 {
				err = fmt.Errorf("http: chunked body ends inside chunk data (%d bytes missing): %w", c.n, io.ErrUnexpectedEOF)
			}
			if err != nil {
				c.err = err
			}
			if n > 0 || err != nil {
				return n, err
			}
		case chunkDataEnd:
			c.err = c.readDataEnd()
		case chunkTrailer:
			c.err = c.readTrailerLine()
		case chunkDone:
			c.err = io.EOF
		}
	}
	return 0, c.err
}

func (c *ChunkedReader) readDataEnd() error {
	b, err := c.r.Peek(2)
	if len(b) < 2 {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("http: chunked body ends after chunk data: %w", err)
	}
	if b[0] != '\r' || b[1] != '\n' {
		return fmt.Errorf("%w after chunk data, got %q", ErrChunkCRLF, b)
	}
	c.r.Discard(2)
	c.state = chunkSize
	return nil
}

// readLine returns one CRLF-terminated line without its CRLF, at most max bytes long
// including the CRLF. The returned slice is valid until the next read.
func (c *ChunkedReader) readLine(max int, tooLong error, what string) ([]byte, error) {
	c.line = c.line[:0]
	for {
		frag, err := c.r.ReadSlice('\n')
		if len(c.line)+len(frag) > max {
			return nil, fmt.Errorf("%w: %s longer than %d bytes", tooLong, what, max)
		}
		if err == bufio.ErrBufferFull {
			c.line = append(c.line, frag...)
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("http: chunked body ends inside %s: %w", what, err)
		}
		line := frag
		if len(c.line) > 0 {
			c.line = append(c.line, frag...)
			line = c.line
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return nil, fmt.Errorf("%w: %s ends with a bare LF", ErrChunkCRLF, what)
		}
		line = line[:len(line)-2]
		for _, b := range line {
			if b == '\r' {
				return nil, fmt.Errorf("%w: lone CR in %s", ErrChunkCRLF, what)
			}
		}
		return line, nil
	}
}

func (c *ChunkedReader) readSize() error {
	line, err := c.readLine(MaxChunkLineBytes, ErrChunkLineTooLong, "chunk size line")
	if err != nil {
		return err
	}
	i := 0
	var n int64
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if n > (1<<63-1)>>4 {
			return fmt.Errorf("%w: %q", ErrChunkSizeOverflow, line[:i+1])
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return fmt.Errorf("%w: %q", ErrChunkSize, trunc(line))
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != ';' {
			return fmt.Errorf("%w: %q", ErrChunkSize, trunc(line))
		}
		// Extensions carry nothing we act on; they are skipped, but control bytes are
		// refused because intermediaries disagree on them (request smuggling).
		for _, b := range rest {
			if (b < ' ' && b != '\t') || b == 0x7f {
				return fmt.Errorf("%w: control byte %#02x", ErrChunkExtension, b)
			}
		}
	}
	if n == 0 {
		c.state = chunkTrailer
		return nil
	}
	c.n = n
	c.state = chunkData
	return nil
}

func (c *ChunkedReader) readTrailerLine() error {
	left := MaxChunkTrailerBytes - c.trBytes
	line, err := c.readLine(left, ErrChunkTrailerTooLarge, "trailer section")
	if err != nil {
		return err
	}
	c.trBytes += len(line) + 2
	if len(line) == 0 {
		c.state = chunkDone
		c.line = nil
		return nil
	}
	c.trFields++
	if c.trFields > MaxChunkTrailerFields {
		return fmt.Errorf("%w: more than %d fields", ErrChunkTrailerTooLarge, MaxChunkTrailerFields)
	}
	name, value, err := parseField(line)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChunkTrailer, err)
	}
	if c.trailer == nil {
		c.trailer = make(textproto.MIMEHeader)
	}
	key := textproto.CanonicalMIMEHeaderKey(name)
	c.trailer[key] = append(c.trailer[key], value)
	return nil
}

// parseField splits "name: value" (RFC 9110 §5): the name is a token with no
// whitespace before the colon, the value has its surrounding OWS removed and may not hold
// CR, LF, NUL or other controls but HTAB. Obsolete line folding is refused.
func parseField(line []byte) (name, value string, err error) {
	colon := -1
	for i, b := range line {
		if b == ':' {
			colon = i
			break
		}
		if !tokenChar(b) {
			return "", "", fmt.Errorf("byte %#02x in field name %q", b, trunc(line))
		}
	}
	if colon <= 0 {
		return "", "", fmt.Errorf("no field name in %q", trunc(line))
	}
	v := line[colon+1:]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for _, b := range v {
		if (b < ' ' && b != '\t') || b == 0x7f {
			return "", "", fmt.Errorf("control byte %#02x in value of %q", b, line[:colon])
		}
	}
	return string(line[:colon]), string(v), nil
}

// tokenChar reports whether b is a tchar (RFC 9110 §5.6.2).
func tokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func unhex(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// trunc keeps error messages short when a peer sends a huge line.
func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// ChunkedWriter encodes writes as HTTP/1.1 chunks. Each non-empty Write becomes one chunk;
// Close writes the last chunk, the trailer fields set in Trailer, and the final CRLF.
// It does not close or flush the underlying writer, and issues three writes per chunk
// (size line, data, CRLF): give it a buffered writer. Not safe for concurrent use.
type ChunkedWriter struct {
	w      io.Writer
	closed bool
	head   [20]byte
	// Trailer holds fields sent after the last chunk by Close. Names must be tokens and
	// values free of control bytes but HTAB, or Close fails with ErrChunkTrailer.
	Trailer textproto.MIMEHeader
}

// NewChunkedWriter returns a writer that encodes to w. The returned value is a
// *ChunkedWriter; set its Trailer field before Close to send trailer fields.
func NewChunkedWriter(w io.Writer) io.WriteCloser {
	return &ChunkedWriter{w: w}
}

// Write writes p as one chunk. An empty p writes nothing (an empty chunk would end the body).
// It returns len(p) or the underlying writer's error.
func (c *ChunkedWriter) Write(p []byte) (int, error) {
	if c.closed {
		return 0, ErrChunkWriterClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	h := strconv.AppendUint(c.head[:0], uint64(len(p)), 16)
	h = append(h, '\r', '\n')
	if _, err := c.w.Write(h); err != nil {
		return 0, err
	}
	n, err := c.w.Write(p)
	if err != nil {
		return n, err
	}
	if _, err := c.w.Write(crlf); err != nil {
		return n, err
	}
	return n, nil
}

var crlf = []byte("\r\n")

// Close writes the last chunk, the trailer section and the final CRLF in one Write.
func (c *ChunkedWriter) Close() error {
	if c.closed {
		return ErrChunkWriterClosed
	}
	c.closed = true
	buf := []byte("0\r\n")
	for name, values := range c.Trailer {
		for i := 0; i < len(name); i++ {
			if !tokenChar(name[i]) {
				return fmt.Errorf("%w: name %q", ErrChunkTrailer, name)
			}
		}
		if name == "" {
			return fmt.Errorf("%w: empty name", ErrChunkTrailer)
		}
		for _, v := range values {
			for i := 0; i < len(v); i++ {
				if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
					return fmt.Errorf("%w: control byte in value of %q", ErrChunkTrailer, name)
				}
			}
			buf = append(buf, name...)
			buf = append(buf, ": "...)
			buf = append(buf, v...)
			buf = append(buf, '\r', '\n')
		}
	}
	buf = append(buf, '\r', '\n')
	_, err := c.w.Write(buf)
	return err
}
