package http

import (
	"errors"
	"fmt"
	"sync"
)

// Errors the request parser and the framing checks report. Each is wrapped
// by a *RequestError carrying the status the server answers with; test with
// errors.Is.
var (
	// ErrBadRequestLine: the request line is not "method SP target SP HTTP/1.x CRLF".
	ErrBadRequestLine = errors.New("http: malformed request line")
	// ErrBadTarget: a request-target in none of the four forms of RFC 9112
	// §3.2, or with a malformed percent-encoding in its path.
	ErrBadTarget = errors.New("http: malformed request-target")
	// ErrVersionNotSupported: an HTTP version other than 1.x (505).
	ErrVersionNotSupported = errors.New("http: HTTP version not supported")
	// ErrURITooLong: the request-target exceeds Settings.MaxURILength (414).
	ErrURITooLong = errors.New("http: request-target too long")
	// ErrHeaderTooLarge: the request head exceeds Settings.MaxHeaderBytes (431).
	ErrHeaderTooLarge = errors.New("http: request header block too large")
	// ErrTooManyHeaders: more header fields than Settings.MaxHeaders (431).
	ErrTooManyHeaders = errors.New("http: too many header fields")
	// ErrBadHeaderName: an empty field name or a non-token byte in it.
	ErrBadHeaderName = errors.New("http: malformed header field name")
	// ErrSpaceBeforeColon: whitespace between a field name and the colon
	// (RFC 9112 §5.1 requires 400).
	ErrSpaceBeforeColon = errors.New("http: whitespace before colon in header field")
	// ErrObsFold: a header line starting with whitespace (obs-fold, RFC 9112 §5.2).
	ErrObsFold = errors.New("http: obsolete line folding in header")
	// ErrBareCR: a CR not followed by LF.
	ErrBareCR = errors.New("http: bare CR")
	// ErrBareLF: a line ended by LF alone; this server requires CRLF.
	ErrBareLF = errors.New("http: bare LF")
	// ErrControlByte: a control byte (other than HTAB) in a field value.
	ErrControlByte = errors.New("http: control byte in header field value")
	// ErrMissingHost: an HTTP/1.1 request without a Host field (RFC 9112 §3.2).
	ErrMissingHost = errors.New("http: missing Host header")
	// ErrMultipleHost: more than one Host field.
	ErrMultipleHost = errors.New("http: multiple Host headers")
	// ErrBadContentLength: a Content-Length that is not digits, overflows,
	// or differs between fields.
	ErrBadContentLength = errors.New("http: invalid Content-Length")
	// ErrLengthWithChunked: both Content-Length and Transfer-Encoding
	// (RFC 9112 §6.1: a smuggling sign; answered 400 and closed).
	ErrLengthWithChunked = errors.New("http: Content-Length with Transfer-Encoding")
	// ErrBadTransferEncoding: chunked is not the final coding, appears
	// twice, or Transfer-Encoding came in an HTTP/1.0 request (400).
	ErrBadTransferEncoding = errors.New("http: invalid Transfer-Encoding")
	// ErrUnsupportedTransferEncoding: a coding other than chunked before the
	// final chunked (501).
	ErrUnsupportedTransferEncoding = errors.New("http: unsupported transfer coding")
	// ErrExpectation: an Expect value other than 100-continue (417).
	ErrExpectation = errors.New("http: unsupported expectation")
	// ErrBodyTooLarge: the body exceeds Settings.MaxBodyBytes (413).
	ErrBodyTooLarge = errors.New("http: request body too large")
	// ErrBadChunk: a malformed chunked request body.
	ErrBadChunk = errors.New("http: malformed chunked body")
	// ErrHeaderTimeout: the head did not arrive within ReadHeaderTimeout (408).
	ErrHeaderTimeout = errors.New("http: request header timeout")
)

// RequestError is a request the server refused: Status is the response
// code sent, Err one of the sentinel errors above.
type RequestError struct {
	Status int
	Err    error
	Detail string
}

func (e *RequestError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v (status %d)", e.Err, e.Status)
	}
	return fmt.Sprintf("%v: %s (status %d)", e.Err, e.Detail, e.Status)
}

func (e *RequestError) Unwrap() error { return e.Err }

// Preallocated errors for the parser's hot rejections: refusing garbage must
// not allocate either.
var (
	errBadRequestLine   = &RequestError{Status: 400, Err: ErrBadRequestLine}
	errBadTarget        = &RequestError{Status: 400, Err: ErrBadTarget}
	errVersion          = &RequestError{Status: 505, Err: ErrVersionNotSupported}
	errURITooLong       = &RequestError{Status: 414, Err: ErrURITooLong}
	errHeaderTooLarge   = &RequestError{Status: 431, Err: ErrHeaderTooLarge}
	errTooManyHeaders   = &RequestError{Status: 431, Err: ErrTooManyHeaders}
	errBadHeaderName    = &RequestError{Status: 400, Err: ErrBadHeaderName}
	errSpaceBeforeColon = &RequestError{Status: 400, Err: ErrSpaceBeforeColon}
	errObsFold          = &RequestError{Status: 400, Err: ErrObsFold}
	errBareCR           = &RequestError{Status: 400, Err: ErrBareCR}
	errBareLF           = &RequestError{Status: 400, Err: ErrBareLF}
	errControlByte      = &RequestError{Status: 400, Err: ErrControlByte}
	errMissingHost      = &RequestError{Status: 400, Err: ErrMissingHost}
	errMultipleHost     = &RequestError{Status: 400, Err: ErrMultipleHost}
	errBadCL            = &RequestError{Status: 400, Err: ErrBadContentLength}
	errCLWithTE         = &RequestError{Status: 400, Err: ErrLengthWithChunked}
	errBadTE            = &RequestError{Status: 400, Err: ErrBadTransferEncoding}
	errUnsupportedTE    = &RequestError{Status: 501, Err: ErrUnsupportedTransferEncoding}
	errExpectation      = &RequestError{Status: 417, Err: ErrExpectation}
	errBodyTooLarge     = &RequestError{Status: 413, Err: ErrBodyTooLarge}
	errBadChunk         = &RequestError{Status: 400, Err: ErrBadChunk}
	errHeaderTimeout    = &RequestError{Status: 408, Err: ErrHeaderTimeout}
)

// span is a half-open byte range [s, e) into the request head.
type span struct{ s, e int32 }

type fieldSpan struct{ name, value span }

// Parser states. The parser stops at any byte boundary and resumes there
// when OnData offers the same bytes again with more appended.
const (
	stMethod uint8 = iota
	stTarget
	stVersion
	stLineStart
	stName
	stValueLead
	stValue
	stValueLF
	stEndLF
	stDone
)

// parser is the incremental request-head parser. It keeps offsets, never
// pointers, so the buffer may move between calls (the poller may grow it).
type parser struct {
	state  uint8
	minor  uint8
	pos    int // next byte to look at
	mark   int // start of the current token
	method span
	target span
	name   span
	fields []fieldSpan

	maxHead, maxURI, maxFields int
}

func (p *parser) init(maxHead, maxURI, maxFields int) {
	p.maxHead, p.maxURI, p.maxFields = maxHead, maxURI, maxFields
	// fields grows on the first requests and is kept: an idle connection
	// that never sent one holds no array.
	p.reset()
}

func (p *parser) reset() {
	p.state, p.minor, p.pos, p.mark = stMethod, 0, 0, 0
	p.fields = p.fields[:0]
}

// pooledFields is the capacity of the field arrays parsers share through
// fieldsPool: enough for the requests browsers and WebSocket clients send,
// so a connection's first head costs one pooled array instead of a chain
// of growing ones.
const pooledFields = 16

var fieldsPool = sync.Pool{New: func() any { return new([pooledFields]fieldSpan) }}

// release gives the field array back to the pool when the connection will
// parse no more heads (it was hijacked), so an upgrade leaves no parser
// garbage behind. The parser must not be used afterwards.
func (p *parser) release() {
	if cap(p.fields) == pooledFields {
		fs := p.fields[:pooledFields]
		clear(fs)
		fieldsPool.Put((*[pooledFields]fieldSpan)(fs))
	}
	p.fields = nil
}

// started reports whether part of a head has been seen.
func (p *parser) started() bool { return p.pos > 0 }

const versionPrefix = "HTTP/1."

// parse scans b, which starts at the first byte of the request and holds
// every byte offered before plus any new ones. It returns the length of the
// head (through the blank line) once complete, 0 while more bytes are
// needed, or a *RequestError.
func (p *parser) parse(b []byte) (int, error) {
	if p.state == stDone {
		return p.pos, nil
	}
	i := p.pos
	for i < len(b) {
		switch p.state {
		case stMethod:
			for i < len(b) && byteClass[b[i]]&clsToken != 0 {
				i++
			}
			if i == len(b) {
				break
			}
			if b[i] != ' ' || i == 0 {
				return 0, errBadRequestLine
			}
			p.method = span{0, int32(i)}
			i++
			p.mark = i
			p.state = stTarget
		case stTarget:
			for i < len(b) && byteClass[b[i]]&clsTarget != 0 {
				i++
			}
			if i-p.mark > p.maxURI {
				return 0, errURITooLong
			}
			if i == len(b) {
				break
			}
			if b[i] != ' ' || i == p.mark {
				return 0, errBadRequestLine
			}
			p.target = span{int32(p.mark), int32(i)}
			i++
			p.mark = i
			p.state = stVersion
		case stVersion:
			// "HTTP/1.d\r\n", checked byte by byte so garbage fails at once.
			for i < len(b) {
				k, c := i-p.mark, b[i]
				switch {
				case k < 5:
					if c != versionPrefix[k] {
						return 0, errBadRequestLine
					}
				case k == 5:
					if c != '1' {
						if byteClass[c]&clsDigit != 0 {
							return 0, errVersion
						}
						return 0, errBadRequestLine
					}
				case k == 6:
					if c != '.' {
						return 0, errBadRequestLine
					}
				case k == 7:
					if byteClass[c]&clsDigit == 0 {
						return 0, errBadRequestLine
					}
					p.minor = c - '0'
				case k == 8:
					if c != '\r' {
						if c == '\n' {
							return 0, errBareLF
						}
						return 0, errBadRequestLine
					}
				default:
					if c != '\n' {
						return 0, errBareCR
					}
				}
				i++
				if k == 9 {
					p.state = stLineStart
					break
				}
			}
		case stLineStart:
			switch c := b[i]; c {
			case '\r':
				i++
				p.state = stEndLF
			case ' ', '\t':
				return 0, errObsFold
			case '\n':
				return 0, errBareLF
			default:
				if len(p.fields) >= p.maxFields {
					return 0, errTooManyHeaders
				}
				p.mark = i
				p.state = stName
			}
		case stName:
			for i < len(b) && byteClass[b[i]]&clsToken != 0 {
				i++
			}
			if i == len(b) {
				break
			}
			switch b[i] {
			case ':':
				if i == p.mark {
					return 0, errBadHeaderName
				}
				p.name = span{int32(p.mark), int32(i)}
				i++
				p.state = stValueLead
			case ' ', '\t':
				return 0, errSpaceBeforeColon
			default:
				return 0, errBadHeaderName
			}
		case stValueLead:
			for i < len(b) && byteClass[b[i]]&clsOWS != 0 {
				i++
			}
			if i == len(b) {
				break
			}
			p.mark = i
			p.state = stValue
		case stValue:
			for i < len(b) && byteClass[b[i]]&clsValue != 0 {
				i++
			}
			if i == len(b) {
				break
			}
			switch b[i] {
			case '\r':
				e := i
				for e > p.mark && byteClass[b[e-1]]&clsOWS != 0 {
					e--
				}
				if p.fields == nil {
					p.fields = (*fieldsPool.Get().(*[pooledFields]fieldSpan))[:0]
				}
				p.fields = append(p.fields, fieldSpan{p.name, span{int32(p.mark), int32(e)}})
				i++
				p.state = stValueLF
			case '\n':
				return 0, errBareLF
			default:
				return 0, errControlByte
			}
		case stValueLF:
			if b[i] != '\n' {
				return 0, errBareCR
			}
			i++
			p.state = stLineStart
		case stEndLF:
			if b[i] != '\n' {
				return 0, errBareCR
			}
			i++
			if i > p.maxHead {
				return 0, errHeaderTooLarge
			}
			p.pos = i
			p.state = stDone
			return i, nil
		}
	}
	p.pos = i
	if i > p.maxHead {
		if p.state == stTarget && i-p.mark > p.maxURI {
			return 0, errURITooLong
		}
		return 0, errHeaderTooLarge
	}
	return 0, nil
}
