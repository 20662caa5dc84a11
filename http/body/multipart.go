package body

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/textproto"
	"strings"
	"sync"
)

// Errors of the multipart parser. Each limit of MultipartLimits has its own error; all are
// wrapped with context, so test them with errors.Is.
var (
	// ErrNotMultipart: the Content-Type is missing or not multipart/*.
	ErrNotMultipart = errors.New("http: content type is not multipart")
	// ErrMultipartBoundary: the boundary is missing or breaks RFC 2046 §5.1.1
	// (1 to 70 characters from bchars, not ending in a space).
	ErrMultipartBoundary = errors.New("http: invalid multipart boundary")
	// ErrMultipartMalformed: the body does not follow the multipart syntax
	// (a boundary line with junk after it, a bare LF, a malformed part header line...).
	ErrMultipartMalformed = errors.New("http: malformed multipart body")
	// ErrMultipartPreambleTooLarge: no boundary within MultipartLimits.PreambleBytes.
	ErrMultipartPreambleTooLarge = errors.New("http: multipart preamble too large")
	// ErrMultipartEpilogueTooLarge: more than MultipartLimits.EpilogueBytes after the close delimiter.
	ErrMultipartEpilogueTooLarge = errors.New("http: multipart epilogue too large")
	// ErrMultipartHeaderTooLarge: a part's header block exceeds MultipartLimits.HeaderBytes.
	ErrMultipartHeaderTooLarge = errors.New("http: multipart part header too large")
	// ErrMultipartTooManyHeaders: a part has more than MultipartLimits.HeaderFields fields.
	ErrMultipartTooManyHeaders = errors.New("http: too many multipart part header fields")
	// ErrMultipartTooManyParts: the body has more than MultipartLimits.Parts parts.
	ErrMultipartTooManyParts = errors.New("http: too many multipart parts")
	// ErrMultipartPartTooLarge: a part's body exceeds MultipartLimits.PartBytes.
	ErrMultipartPartTooLarge = errors.New("http: multipart part too large")
	// ErrMultipartPaddingTooLong: more than MaxMultipartPadding bytes of transport padding
	// (spaces and tabs) after a boundary.
	ErrMultipartPaddingTooLong = errors.New("http: multipart transport padding too long")
	// ErrMultipartStarted: SetLimits after the first event.
	ErrMultipartStarted = errors.New("http: multipart parsing already started")
)

// MaxMultipartPadding bounds the transport padding (RFC 2046 §5.1.1: spaces and tabs a
// gateway may add) after a boundary, which is otherwise unbounded.
const MaxMultipartPadding = 1024

// MultipartLimits bounds what a peer can make the parser hold or read. A zero field takes
// its default; a negative PartBytes means no limit on a part's size (a part is streamed,
// so its size costs no memory). PreambleBytes and HeaderBytes also size the parser's
// read buffer, which is the largest of 64 KiB and each of them plus about 1 KiB.
type MultipartLimits struct {
	PreambleBytes int   // bytes before the first boundary; default 8 KiB
	EpilogueBytes int   // bytes after the close delimiter; default 8 KiB
	HeaderBytes   int   // one part's header block, CRLFs and the empty line included; default 16 KiB
	HeaderFields  int   // field lines in one part's header block; default 64
	Parts         int   // parts in the body; default 1000
	PartBytes     int64 // one part's body; default 64 MiB, negative: unlimited
}

// DefaultMultipartLimits are the limits used when none are set.
var DefaultMultipartLimits = MultipartLimits{
	PreambleBytes: 8 << 10,
	EpilogueBytes: 8 << 10,
	HeaderBytes:   16 << 10,
	HeaderFields:  64,
	Parts:         1000,
	PartBytes:     64 << 20,
}

func (l MultipartLimits) withDefaults() MultipartLimits {
	d := DefaultMultipartLimits
	if l.PreambleBytes > 0 {
		d.PreambleBytes = l.PreambleBytes
	}
	if l.EpilogueBytes > 0 {
		d.EpilogueBytes = l.EpilogueBytes
	}
	if l.HeaderBytes > 0 {
		d.HeaderBytes = l.HeaderBytes
	}
	if l.HeaderFields > 0 {
		d.HeaderFields = l.HeaderFields
	}
	if l.Parts > 0 {
		d.Parts = l.Parts
	}
	if l.PartBytes != 0 {
		d.PartBytes = l.PartBytes
	}
	return d
}

// MultipartEvent is one of Preamble, Part or Epilogue, in body order: at most one Preamble,
// the parts, at most one Epilogue. The interface is sealed.
type MultipartEvent interface{ multipartEvent() }

// Preamble holds the non-empty bytes before the first boundary. Data is owned by the receiver.
type Preamble struct{ Data []byte }

// Epilogue holds the non-empty bytes after the close delimiter line. Data is owned by the receiver.
type Epilogue struct{ Data []byte }

// Part is one body part. Header has canonical keys and is owned by the receiver. Body
// streams the part's content and is valid only until the next event is asked for; it also
// implements io.Closer (Close skips the rest of the part). Body's Read returns io.EOF at
// the part's end or an error wrapping one of the ErrMultipart* values.
type Part struct {
	Header textproto.MIMEHeader
	Body   io.Reader
}

func (Preamble) multipartEvent() {}
func (Epilogue) multipartEvent() {}
func (Part) multipartEvent()     {}

type mpState uint8

const (
	mpStart   mpState = iota // before the first boundary
	mpHeaders                // just after a delimiter line: a part's header block follows
	mpBody                   // a part's body is being read
	mpClosed                 // after the close delimiter: the epilogue follows
	mpDone                   // everything was returned
)

// MultipartReader parses a multipart body (RFC 2046 §5.1, RFC 7578) as a stream of events.
// Use exactly one of Next, All or Events. Memory is bounded by the limits: a part's body
// passes through a fixed buffer, however large it is.
//
// Cancelling ctx makes the next read of the source fail with ctx.Err(); it does not
// interrupt a Read already blocked on the source (close the connection for that).
type MultipartReader struct {
	ctx    context.Context
	src    io.Reader
	left   int64 // bytes the source may still give; -1: read to EOF
	srcErr error
	limits MultipartLimits

	buf  []byte
	r, w int

	dashBoundary []byte // "--" + boundary
	delim        []byte // "\r\n--" + boundary
	state        mpState
	started      bool
	parts        int
	err          error // sticky
	body         *partBody

	once   sync.Once
	events chan MultipartEvent
	evErr  error
}

// ParseMultipart starts parsing the body r of a message whose header is h. Only the
// Content-Type and Content-Length fields are used (a missing or invalid Content-Length
// means the length is unknown). It fails with ErrNotMultipart or ErrMultipartBoundary;
// nothing is read before the first event is asked for.
func ParseMultipart(ctx context.Context, r io.Reader, h textproto.MIMEHeader) (*MultipartReader, error) {
	length := int64(-1)
	if v := h.Get("Content-Length"); v != "" {
		if n, ok := parseLength(v); ok {
			length = n
		}
	}
	return ParseMultipartType(ctx, r, h.Get("Content-Type"), length)
}

// ParseMultipartType is ParseMultipart with the Content-Type value and the body length
// given directly; contentLength -1 means unknown (read until r ends).
func ParseMultipartType(ctx context.Context, r io.Reader, contentType string, contentLength int64) (*MultipartReader, error) {
	if contentType == "" {
		return nil, fmt.Errorf("%w: no Content-Type", ErrNotMultipart)
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotMultipart, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return nil, fmt.Errorf("%w: %q", ErrNotMultipart, mt)
	}
	b, ok := params["boundary"]
	if !ok {
		return nil, fmt.Errorf("%w: no boundary parameter", ErrMultipartBoundary)
	}
	return ParseMultipartBoundary(ctx, []byte("--"+b), r, contentLength)
}

// ParseMultipartBoundary starts parsing r with the delimiter boundaryPrefixed, that is
// "--" followed by the boundary. totalLength is the number of bytes of the body (the
// source is not read past it, and a shorter source is an io.ErrUnexpectedEOF), or -1 for
// unknown: then the epilogue is whatever comes before r's EOF.
// The slice is copied; it fails with ErrMultipartBoundary.
func ParseMultipartBoundary(ctx context.Context, boundaryPrefixed []byte, r io.Reader, totalLength int64) (*MultipartReader, error) {
	if !bytes.HasPrefix(boundaryPrefixed, []byte("--")) {
		return nil, fmt.Errorf("%w: %q does not start with \"--\"", ErrMultipartBoundary, boundaryPrefixed)
	}
	if err := ValidBoundary(string(boundaryPrefixed[2:])); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if totalLength < 0 {
		totalLength = -1
	}
	delim := make([]byte, 0, len(boundaryPrefixed)+2)
	delim = append(append(delim, '\r', '\n'), boundaryPrefixed...)
	return &MultipartReader{
		ctx:          ctx,
		src:          r,
		left:         totalLength,
		limits:       DefaultMultipartLimits,
		delim:        delim,
		dashBoundary: delim[2:],
	}, nil
}

// ValidBoundary reports (as ErrMultipartBoundary) whether b is not a valid RFC 2046
// boundary: 1 to 70 characters from bchars, the last one not a space.
func ValidBoundary(b string) error {
	if len(b) == 0 || len(b) > 70 {
		return fmt.Errorf("%w: length %d not in 1..70", ErrMultipartBoundary, len(b))
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("'()+_,-./:=? ", c) >= 0
		if !ok {
			return fmt.Errorf("%w: byte %#02x", ErrMultipartBoundary, c)
		}
	}
	if b[len(b)-1] == ' ' {
		return fmt.Errorf("%w: ends with a space", ErrMultipartBoundary)
	}
	return nil
}

// SetLimits replaces the limits (zero fields take defaults). It must be called before the
// first event is asked for, or it returns ErrMultipartStarted.
func (m *MultipartReader) SetLimits(l MultipartLimits) error {
	if m.started {
		return ErrMultipartStarted
	}
	m.limits = l.withDefaults()
	return nil
}

// Next returns the next event, or io.EOF after the last one. Asking for the next event
// first skips what is left of the previous Part's body. Errors are sticky.
func (m *MultipartReader) Next() (MultipartEvent, error) {
	if !m.started {
		m.start()
	}
	if m.err != nil {
		return nil, m.err
	}
	ev, err := m.next()
	if err != nil {
		m.err = err
		return nil, err
	}
	return ev, nil
}

// All returns an iterator over the events. A failure is yielded once as (nil, err) and
// ends the iteration; a clean end yields no error. Stopping early is allowed.
func (m *MultipartReader) All() iter.Seq2[MultipartEvent, error] {
	return func(yield func(MultipartEvent, error) bool) {
		for {
			ev, err := m.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Events starts (on the first call) a goroutine that sends the events on the returned
// unbuffered channel and closes it at the end, on an error (then reported by Err) or when
// ctx is cancelled. That goroutine reads each Part's body itself and hands it over through
// Body, up to 1 MiB ahead of the consumer's reads, so a Part may be read, closed, or simply
// skipped: receiving the next event drops what was left of it (its Body then fails with
// ErrMultipartSkipped). Only a skipped part with more than 1 MiB left unread holds the
// goroutine (until ctx ends): Close the Body to skip a part of any size.
func (m *MultipartReader) Events() <-chan MultipartEvent {
	m.once.Do(func() {
		m.events = make(chan MultipartEvent)
		evq := make(chan evItem)
		go m.produce(evq)
		go m.relay(evq)
	})
	return m.events
}

// Err returns the error that ended the Events channel (nil after a clean end). It is valid
// once the channel is closed.
func (m *MultipartReader) Err() error { return m.evErr }

// ErrMultipartSkipped: a Part's Body from Events was read after the next event was received.
var ErrMultipartSkipped = errors.New("http: multipart part skipped: its body is gone once the next event is received")

// evLookahead bounds the bytes of a Part the Events goroutine reads ahead of its consumer.
const evLookahead = 1 << 20

// evItem is one event on its way from the parsing goroutine to the relay, or the end (ev
// nil, err the reason or nil).
type evItem struct {
	ev   MultipartEvent
	body *evBody
	err  error
}

// produce parses on its own goroutine, the only one that touches the parser in Events
// mode: it sends each event to the relay and pumps each Part's body into its evBody. It
// may stay blocked in a Read of the source after ctx ends (see MultipartReader).
func (m *MultipartReader) produce(evq chan<- evItem) {
	send := func(it evItem) bool {
		select {
		case evq <- it:
			return true
		case <-m.ctx.Done():
			return false
		}
	}
	var chunk []byte
	for {
		ev, err := m.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			send(evItem{err: err})
			return
		}
		p, ok := ev.(Part)
		if !ok {
			if !send(evItem{ev: ev}) {
				return
			}
			continue
		}
		eb := newEvBody()
		src := p.Body
		p.Body = eb
		if !send(evItem{ev: p, body: eb}) {
			return
		}
		if chunk == nil {
			chunk = make([]byte, 32<<10)
		}
		for {
			n, err := src.Read(chunk)
			if n > 0 && !eb.put(m.ctx, chunk[:n]) {
				eb.finish(m.ctx.Err())
				return
			}
			if err != nil {
				eb.finish(err)
				if err != io.EOF {
					send(evItem{err: err})
					return
				}
				break
			}
		}
	}
}

// relay hands the events to the consumer. Once the consumer took the event after a Part,
// it has moved on from that Part: what is left of its body is dropped.
func (m *MultipartReader) relay(evq <-chan evItem) {
	defer close(m.events)
	// The last Part stays readable after the channel is closed: the consumer may be
	// reading it then.
	var prev *evBody
	for {
		var it evItem
		select {
		case it = <-evq:
		case <-m.ctx.Done():
			m.evErr = m.ctx.Err()
			return
		}
		if it.ev == nil {
			m.evErr = it.err
			return
		}
		select {
		case m.events <- it.ev:
		case <-m.ctx.Done():
			m.evErr = m.ctx.Err()
			if it.body != nil {
				it.body.finish(m.ctx.Err())
			}
			return
		}
		if prev != nil {
			prev.skip()
		}
		prev = it.body
	}
}

// evBody is a Part's Body in Events mode: the parsing goroutine puts the part's bytes in,
// the consumer reads them out.
type evBody struct {
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every change
	buf     []byte
	err     error // how the part ended (io.EOF when whole), once buf is read
	closed  bool  // Close was called: the rest is discarded
	skipped bool  // the consumer received the next event
}

func newEvBody() *evBody { return &evBody{wake: make(chan struct{})} }

func (b *evBody) signalLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// put adds p, waiting while evLookahead bytes are unread; it reports false when ctx ended.
func (b *evBody) put(ctx context.Context, p []byte) bool {
	b.mu.Lock()
	for !b.closed && !b.skipped && len(b.buf) >= evLookahead {
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
		b.mu.Lock()
	}
	if !b.closed && !b.skipped {
		b.buf = append(b.buf, p...)
		b.signalLocked()
	}
	b.mu.Unlock()
	return true
}

// finish records how the part ended; the first reason stays.
func (b *evBody) finish(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
		b.signalLocked()
	}
	b.mu.Unlock()
}

// skip drops what is left: the consumer moved on.
func (b *evBody) skip() {
	b.mu.Lock()
	b.skipped = true
	b.buf = nil
	b.signalLocked()
	b.mu.Unlock()
}

// Read implements io.Reader.
func (b *evBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		switch {
		case b.skipped:
			return 0, ErrMultipartSkipped
		case b.closed:
			return 0, io.ErrClosedPipe
		case len(b.buf) > 0:
			if len(p) == 0 {
				return 0, nil
			}
			n := copy(p, b.buf)
			b.buf = b.buf[n:]
			if len(b.buf) == 0 {
				b.buf = nil // let the next put start a fresh array rather than grow this one
			}
			b.signalLocked()
			return n, nil
		case b.err != nil:
			return 0, b.err
		}
		wake := b.wake
		b.mu.Unlock()
		<-wake
		b.mu.Lock()
	}
}

// Close skips the rest of the part: it returns once the part ended, with nil or the error
// that ended it.
func (b *evBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.buf = nil
	b.signalLocked()
	for b.err == nil && !b.skipped {
		wake := b.wake
		b.mu.Unlock()
		<-wake
		b.mu.Lock()
	}
	if b.err == nil || b.err == io.EOF {
		return nil
	}
	return b.err
}

func (m *MultipartReader) start() {
	m.started = true
	size := 64 << 10
	// The slack holds a whole delimiter line (CRLF, "--", 70 bytes of boundary, padding,
	// CRLF) after a preamble or header block at its limit.
	const slack = 80 + MaxMultipartPadding
	size = max(size, m.limits.PreambleBytes+slack, m.limits.HeaderBytes+slack, m.limits.EpilogueBytes+slack)
	if m.left >= 0 && m.left < int64(size) {
		// A small body fits whole: the buffer never fills before the source ends, so the
		// limit checks that rely on a full buffer are never reached.
		size = int(m.left) + 1
	}
	m.buf = make([]byte, size)
}

// fill reads more from the source into the buffer, moving the unread bytes to the front
// when the tail is full. It returns false when no byte could be added (m.srcErr then set).
func (m *MultipartReader) fill() bool {
	if m.srcErr != nil {
		return false
	}
	if err := m.ctx.Err(); err != nil {
		m.srcErr = err
		return false
	}
	if m.w == len(m.buf) && m.r == 0 {
		return false // full: the caller's limit logic decides
	}
	if m.r > 0 && len(m.buf)-m.w < len(m.buf)/2 {
		// Move the unread tail (usually a few bytes) to the front so that reads
		// into the buffer stay large.
		m.w = copy(m.buf, m.buf[m.r:m.w])
		m.r = 0
	}
	for range 100 {
		room := m.buf[m.w:]
		if m.left >= 0 {
			if m.left == 0 {
				m.srcErr = io.EOF
				return false
			}
			if int64(len(room)) > m.left {
				room = room[:m.left]
			}
		}
		n, err := m.src.Read(room)
		m.w += n
		if m.left >= 0 {
			m.left -= int64(n)
		}
		if err == io.EOF && m.left > 0 {
			err = fmt.Errorf("%w: source ends %d bytes before the announced length", io.ErrUnexpectedEOF, m.left)
		}
		if err != nil {
			m.srcErr = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	m.srcErr = io.ErrNoProgress
	return false
}

// eofErr turns the source's end into the error for a body that ended too early.
func (m *MultipartReader) eofErr(where string) error {
	err := m.srcErr
	if err == io.EOF || err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("http: multipart body ends %s: %w", where, err)
}

func (m *MultipartReader) next() (MultipartEvent, error) {
	for {
		switch m.state {
		case mpStart:
			pre, err := m.readPreamble()
			if err != nil {
				return nil, err
			}
			if len(pre) > 0 {
				return Preamble{Data: pre}, nil
			}
		case mpBody:
			if err := m.body.drain(); err != nil {
				return nil, err
			}
		case mpHeaders:
			m.parts++
			if m.parts > m.limits.Parts {
				return nil, fmt.Errorf("%w: more than %d", ErrMultipartTooManyParts, m.limits.Parts)
			}
			h, err := m.readHeader()
			if err != nil {
				return nil, err
			}
			m.body = &partBody{m: m, limit: m.limits.PartBytes, done: make(chan struct{})}
			m.state = mpBody
			return Part{Header: h, Body: m.body}, nil
		case mpClosed:
			m.state = mpDone
			epi, err := m.readEpilogue()
			if err != nil {
				return nil, err
			}
			if len(epi) > 0 {
				return Epilogue{Data: epi}, nil
			}
		case mpDone:
			return nil, io.EOF
		}
	}
}

// readPreamble finds the first delimiter: "--boundary" at the very start, or
// CRLF "--boundary" later. The CRLF belongs to the delimiter, not to the preamble.
func (m *MultipartReader) readPreamble() ([]byte, error) {
	limit := m.limits.PreambleBytes
	scanned := 0 // delimiters starting before this offset were already ruled out
	for {
		data := m.buf[m.r:m.w]
		if bytes.HasPrefix(data, m.dashBoundary) {
			if ok, err := m.atDelimiter(0, len(m.dashBoundary)); err != nil {
				return nil, err
			} else if ok {
				return nil, nil
			}
			data = m.buf[m.r:m.w]
		}
		for from := scanned; ; {
			i := bytes.Index(data[from:], m.delim)
			if i < 0 || from+i > limit {
				break
			}
			i += from
			ok, err := m.atDelimiter(i, len(m.delim))
			if err != nil {
				return nil, err
			}
			if ok {
				// Nothing was consumed before the preamble ends (m.r was 0), and fill
				// only moves bytes when m.r > 0: the preamble is still at the front.
				return bytes.Clone(m.buf[:i]), nil
			}
			data = m.buf[m.r:m.w] // atDelimiter may have filled the buffer
			from = i + 1
		}
		scanned = max(scanned, len(data)-len(m.delim)+1)
		// A delimiter starting at offset limit or before would have been found.
		if len(data) >= limit+len(m.delim) {
			return nil, fmt.Errorf("%w: no boundary in the first %d bytes", ErrMultipartPreambleTooLarge, limit)
		}
		if !m.fill() {
			return nil, m.eofErr("before the first boundary")
		}
	}
}

// Outcomes of classifying the bytes after a delimiter candidate.
const (
	delimNo   = iota // not a delimiter: the candidate is content
	delimPart        // a delimiter line: a part follows
	delimEnd         // the close delimiter
	delimMore        // more bytes are needed to decide
)

// classify looks at the bytes after a candidate delimiter ending at end (relative to m.r)
// without consuming anything. On delimPart/delimEnd it returns the length of the whole
// delimiter line, its CRLF included (for delimEnd, the CRLF is optional at the source's end).
func (m *MultipartReader) classify(end int) (int, int, error) {
	data := m.buf[m.r:m.w]
	eof := m.srcErr != nil
	if end >= len(data) {
		if eof {
			return delimNo, 0, nil
		}
		return delimMore, 0, nil
	}
	kind := delimPart
	i := end
	switch c := data[i]; c {
	case '-':
		if i+1 >= len(data) {
			if eof {
				return delimNo, 0, nil
			}
			return delimMore, 0, nil
		}
		if data[i+1] != '-' {
			return delimNo, 0, nil
		}
		kind = delimEnd
		i += 2
	case ' ', '\t', '\r', '\n':
	default:
		return delimNo, 0, nil
	}
	pad := i
	for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
		i++
	}
	if i-pad > MaxMultipartPadding {
		return 0, 0, fmt.Errorf("%w: more than %d bytes", ErrMultipartPaddingTooLong, MaxMultipartPadding)
	}
	if i >= len(data) {
		if eof {
			if kind == delimEnd {
				return delimEnd, i, nil
			}
			return 0, 0, m.eofErr("inside a boundary line")
		}
		return delimMore, 0, nil
	}
	switch data[i] {
	case '\r':
		if i+1 >= len(data) {
			if eof {
				return 0, 0, m.eofErr("inside a boundary line")
			}
			return delimMore, 0, nil
		}
		if data[i+1] == '\n' {
			return kind, i + 2, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: unexpected %q after a boundary", ErrMultipartMalformed, data[i:min(len(data), i+8)])
}

// atDelimiter classifies the candidate at offset at (delimiter of length n) relative to
// m.r, filling the buffer as needed. When it is a delimiter line, it consumes everything
// up to the end of that line and sets the next state.
func (m *MultipartReader) atDelimiter(at, n int) (bool, error) {
	for {
		kind, end, err := m.classify(at + n)
		if err != nil {
			return false, err
		}
		switch kind {
		case delimNo:
			return false, nil
		case delimPart, delimEnd:
			m.r += end
			if kind == delimPart {
				m.state = mpHeaders
			} else {
				m.state = mpClosed
			}
			return true, nil
		}
		if !m.fill() && m.srcErr == nil {
			// Buffer full with the candidate not at its front: make room.
			if m.r == 0 {
				return false, fmt.Errorf("%w: boundary line too long", ErrMultipartMalformed)
			}
			m.w = copy(m.buf, m.buf[m.r:m.w])
			m.r = 0
		}
	}
}

func (m *MultipartReader) readHeader() (textproto.MIMEHeader, error) {
	limit := m.limits.HeaderBytes
	var h textproto.MIMEHeader
	used, fields := 0, 0
	seen := 0 // bytes from m.r already searched for LF
	for {
		data := m.buf[m.r:m.w]
		i := bytes.IndexByte(data[seen:], '\n')
		if i >= 0 {
			i += seen
		}
		if i < 0 {
			seen = len(data)
			if used+len(data) > limit {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrMultipartHeaderTooLarge, limit)
			}
			if !m.fill() {
				return nil, m.eofErr("inside a part header")
			}
			continue
		}
		if used+i+1 > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrMultipartHeaderTooLarge, limit)
		}
		if i == 0 || data[i-1] != '\r' {
			return nil, fmt.Errorf("%w: part header line ends with a bare LF", ErrMultipartMalformed)
		}
		line := data[:i-1]
		used += i + 1
		m.r += i + 1
		seen = 0
		if len(line) == 0 {
			if h == nil {
				h = textproto.MIMEHeader{}
			}
			return h, nil
		}
		fields++
		if fields > m.limits.HeaderFields {
			return nil, fmt.Errorf("%w: more than %d", ErrMultipartTooManyHeaders, m.limits.HeaderFields)
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return nil, fmt.Errorf("%w: lone CR in a part header", ErrMultipartMalformed)
		}
		name, value, err := parseField(line)
		if err != nil {
			return nil, fmt.Errorf("%w: part header: %v", ErrMultipartMalformed, err)
		}
		if h == nil {
			h = make(textproto.MIMEHeader)
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		h[key] = append(h[key], value)
	}
}

func (m *MultipartReader) readEpilogue() ([]byte, error) {
	limit := m.limits.EpilogueBytes
	for {
		if m.w-m.r > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrMultipartEpilogueTooLarge, limit)
		}
		if !m.fill() {
			if m.srcErr != io.EOF && m.srcErr != nil {
				return nil, fmt.Errorf("http: reading multipart epilogue: %w", m.srcErr)
			}
			if m.w-m.r > limit {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrMultipartEpilogueTooLarge, limit)
			}
			if m.w == len(m.buf) && m.r == 0 && m.srcErr == nil {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrMultipartEpilogueTooLarge, limit)
			}
			epi := bytes.Clone(m.buf[m.r:m.w])
			m.r = m.w
			return epi, nil
		}
	}
}

// partBody streams one part: it hands out buffered bytes that cannot belong to the next
// delimiter, and keeps back a tail shorter than the delimiter that might.
type partBody struct {
	m     *MultipartReader
	n     int64 // bytes handed out
	limit int64
	safe  int  // bytes from m.r known to be content, not the start of a delimiter
	begun bool // the start was checked for a delimiter without its CRLF
	err   error
	done  chan struct{} // closed at the part's end, on an error or on Close
	fin   bool
}

func (b *partBody) finish(err error) {
	b.err = err
	if !b.fin {
		b.fin = true
		close(b.done)
	}
}

// Read implements io.Reader.
func (b *partBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	m := b.m
	delim := m.delim
	for b.safe == 0 {
		data := m.buf[m.r:m.w]
		if !b.begun {
			// A part's body is optional (RFC 2046: body-part :=
			// MIME-part-headers [CRLF *OCTET]), so the CRLF that ended
			// the header block may be the next delimiter's own: a body
			// that begins with the dash-boundary is empty.
			if len(data) < len(m.dashBoundary) && bytes.HasPrefix(m.dashBoundary, data) && m.fill() {
				continue
			}
			b.begun = true
			if bytes.HasPrefix(data, m.dashBoundary) {
				if ended, err := b.endsAt(len(m.dashBoundary)); ended {
					return 0, err
				}
			}
			continue
		}
		i := bytes.Index(data, delim)
		switch {
		case i > 0:
			b.safe = i
		case i < 0:
			b.safe = len(data) - partialSuffix(data, delim)
		default:
			if ended, err := b.endsAt(len(delim)); ended {
				return 0, err
			}
			// Not a delimiter after all ("--boundaryX"): its CR is content.
			b.safe = 1
			continue
		}
		if b.safe > 0 {
			break
		}
		if !m.fill() {
			err := m.eofErr("inside a part")
			if m.srcErr == nil {
				// Only a delimiter prefix fits in a full buffer: impossible as the buffer
				// is much longer than a delimiter; kept as a guard against a loop.
				err = fmt.Errorf("%w: buffer full inside a delimiter", ErrMultipartMalformed)
			}
			m.err = err
			b.finish(err)
			return 0, err
		}
	}
	if len(p) > b.safe {
		p = p[:b.safe]
	}
	if b.limit >= 0 && b.n+int64(len(p)) > b.limit {
		if b.n >= b.limit {
			err := fmt.Errorf("%w: more than %d bytes", ErrMultipartPartTooLarge, b.limit)
			m.err = err
			b.finish(err)
			return 0, err
		}
		p = p[:b.limit-b.n]
	}
	n := copy(p, m.buf[m.r:m.w])
	m.r += n
	b.safe -= n
	b.n += int64(n)
	return n, nil
}

// endsAt reports whether the part ends at a delimiter candidate of length
// n at the front of the buffer, and with which error (io.EOF when it
// simply ended); an error also fails the reader.
func (b *partBody) endsAt(n int) (bool, error) {
	ok, err := b.m.atDelimiter(0, n)
	if err != nil {
		b.m.err = err
		b.finish(err)
		return true, err
	}
	if ok {
		b.finish(io.EOF)
		return true, io.EOF
	}
	return false, nil
}

// partialSuffix returns the length of the longest suffix of data that is a proper prefix
// of delim: those bytes may be the start of a delimiter cut by the buffer's end.
func partialSuffix(data, delim []byte) int {
	start := max(0, len(data)-len(delim)+1)
	for i := start; i < len(data); i++ {
		if data[i] == delim[0] && bytes.HasPrefix(delim, data[i:]) {
			return len(data) - i
		}
	}
	return 0
}

// Close skips the rest of the part. It returns nil, or the error that ended the part.
func (b *partBody) Close() error {
	err := b.drain()
	if err != nil {
		return err
	}
	return nil
}

func (b *partBody) drain() error {
	var scratch [4096]byte
	for b.err == nil {
		b.Read(scratch[:])
	}
	if b.err == io.EOF {
		return nil
	}
	return b.err
}

// parseLength parses a non-negative decimal without sign, as Content-Length is written.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
