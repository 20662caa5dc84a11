package http

// An incremental decoder for chunked request bodies (RFC 9112 §7.1) in the
// push model: it eats whatever bytes arrived and appends the data to the
// request's body buffer, so nothing waits on a reader. Strict CRLF, size
// overflow checked, extensions skipped but bounded, trailers skipped but
// bounded.

import "github.com/rawws/rawws/http/body"

const (
	csSize   uint8 = iota
	csSizeWS       // whitespace after the size: only ';' or CRLF may follow
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailerStart
	csTrailerName
	csTrailerValue
	csTrailerLF
	csEndLF
)

// The push decoder holds a request to the bounds of body.DecodeChunked, so
// a chunked body either codec accepts the other accepts too (the
// differential test in request_chunked_test.go checks it).
const (
	maxChunkLine = body.MaxChunkLineBytes // size line with extensions
	maxTrailer   = body.MaxChunkTrailerBytes
	maxTrailers  = body.MaxChunkTrailerFields
)

type chunkDecoder struct {
	state   uint8
	digits  int
	size    int64
	line    int
	trailer int
	fields  int
}

func (d *chunkDecoder) reset() { *d = chunkDecoder{} }

// decode consumes from b, appending body bytes to dst, which may not grow
// past max. It returns the bytes consumed, the grown dst, and done once the
// last chunk and trailers have been read.
func (d *chunkDecoder) decode(b, dst []byte, max int64) (int, []byte, bool, *RequestError) {
	i := 0
	for i < len(b) {
		c := b[i]
		switch d.state {
		case csSize:
			if byteClass[c]&clsHex != 0 {
				if d.size>>59 != 0 {
					return i, dst, false, errBadChunk // would overflow int64
				}
				d.size = d.size<<4 | int64(unhex(c))
				d.digits++
				i++
				continue
			}
			if d.digits == 0 || (c != ';' && c != '\r' && c != ' ' && c != '\t') {
				return i, dst, false, errBadChunk
			}
			d.state, d.line = csSizeWS, d.digits
		case csSizeWS:
			switch c {
			case ' ', '\t':
				d.line++
				if d.line > maxChunkLine {
					return i, dst, false, errBadChunk
				}
				i++
			case ';', '\r':
				d.state = csExt
			default:
				return i, dst, false, errBadChunk
			}
		case csExt:
			switch {
			case c == '\r':
				d.state = csSizeLF
			case c == '\n':
				return i, dst, false, errBadChunk
			case c < 0x20 && c != '\t', c == 0x7f:
				return i, dst, false, errBadChunk
			}
			d.line++
			if d.line > maxChunkLine {
				return i, dst, false, errBadChunk
			}
			i++
		case csSizeLF:
			if c != '\n' {
				return i, dst, false, errBadChunk
			}
			i++
			if d.size == 0 {
				d.state = csTrailerStart
				continue
			}
			if int64(len(dst))+d.size > max {
				return i, dst, false, errBodyTooLarge
			}
			d.state = csData
		case csData:
			n := int64(len(b) - i)
			if n > d.size {
				n = d.size
			}
			dst = append(dst, b[i:i+int(n)]...)
			i += int(n)
			d.size -= n
			if d.size == 0 {
				d.state = csDataCR
			}
		case csDataCR:
			if c != '\r' {
				return i, dst, false, errBadChunk
			}
			i++
			d.state = csDataLF
		case csDataLF:
			if c != '\n' {
				return i, dst, false, errBadChunk
			}
			i++
			d.state, d.digits, d.size = csSize, 0, 0
		case csTrailerStart:
			switch {
			case c == '\r':
				d.state = csEndLF
			case byteClass[c]&clsToken != 0:
				d.fields++
				if d.fields > maxTrailers {
					return i, dst, false, errBadChunk
				}
				d.state = csTrailerName
			default:
				return i, dst, false, errBadChunk
			}
			i++
			d.trailer++
		case csTrailerName:
			switch {
			case c == ':':
				d.state = csTrailerValue
			case byteClass[c]&clsToken == 0:
				return i, dst, false, errBadChunk
			}
			i++
			d.trailer++
		case csTrailerValue:
			switch {
			case c == '\r':
				d.state = csTrailerLF
			case byteClass[c]&clsValue == 0:
				return i, dst, false, errBadChunk
			}
			i++
			d.trailer++
			if d.trailer > maxTrailer {
				return i, dst, false, errBadChunk
			}
		case csTrailerLF:
			if c != '\n' {
				return i, dst, false, errBadChunk
			}
			i++
			d.state = csTrailerStart
		case csEndLF:
			if c != '\n' {
				return i, dst, false, errBadChunk
			}
			return i + 1, dst, true, nil
		}
	}
	return i, dst, false, nil
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
