package body

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"
)

// ContentRequest holds the request fields ServeContent looks at, as raw header values
// ("" when absent). It is independent of any HTTP server type.
type ContentRequest struct {
	Method            string // "" means GET
	Range             string
	IfRange           string
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   string
	IfUnmodifiedSince string
	// ContentType, when set, is the representation's media type; otherwise it comes from
	// the extension of name, else "application/octet-stream" (the content is not sniffed).
	ContentType string
}

// ContentResponse is what to send. Header has canonical keys and is owned by the caller.
// Body is nil when nothing is to be sent (HEAD, 304, 412, 416); otherwise it yields
// exactly Length bytes, read lazily from the content, which must stay open and must not be
// used by anyone else until Body is consumed. Length is also in Header's Content-Length
// (for HEAD, the length a GET would get).
type ContentResponse struct {
	Status int
	Header textproto.MIMEHeader
	Body   io.Reader
	Length int64
}

// ErrContentSeek: the content's Seek failed (the response is then a 500).
var ErrContentSeek = errors.New("http: cannot seek content")

// ServeContent answers a request for a representation the way a file server does, under
// RFC 9110: preconditions (§13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match,
// If-Modified-Since) give 412 or 304; for GET and HEAD a Range (§14), if If-Range allows
// it, gives 206 with Content-Range for one range, 206 multipart/byteranges for several
// (see ParseRange for merging and limits), or 416 with Content-Range: bytes */size;
// otherwise 200 with the whole content. Accept-Ranges: bytes is always sent.
//
// etag is the quoted entity-tag (`"x"` or `W/"x"`), or "" for none; a zero (or Unix
// epoch) modtime means unknown. The size is found with content.Seek(0, io.SeekEnd); if
// content also implements io.ReaderAt, ranges are read with ReadAt. An invalid or
// unsupported Range header, too many ranges, or ranges adding up to more than the size
// are ignored (200), which differs from net/http (see bodies_doc.go). A Seek failure
// returns a 500 response and an error wrapping ErrContentSeek.
func ServeContent(req ContentRequest, name string, modtime time.Time, etag string, content io.ReadSeeker) (ContentResponse, error) {
	h := textproto.MIMEHeader{}
	res := ContentResponse{Header: h}
	method := req.Method
	if method == "" {
		method = "GET"
	}
	getOrHead := method == "GET" || method == "HEAD"
	known := !modtime.IsZero() && modtime.Unix() != 0
	if known {
		h.Set("Last-Modified", modtime.UTC().Format(timeFormat))
	}
	if etag != "" {
		h.Set("Etag", etag)
	}

	// Preconditions, RFC 9110 §13.2.2.
	if req.IfMatch != "" {
		if !etagMatch(req.IfMatch, etag, true) {
			return statusOnly(res, 412), nil
		}
	} else if req.IfUnmodifiedSince != "" && known {
		if t, ok := parseHTTPDate(req.IfUnmodifiedSince); ok && modtime.Truncate(time.Second).After(t) {
			return statusOnly(res, 412), nil
		}
	}
	if req.IfNoneMatch != "" {
		if etagMatch(req.IfNoneMatch, etag, false) {
			if getOrHead {
				return notModified(res), nil
			}
			return statusOnly(res, 412), nil
		}
	} else if req.IfModifiedSince != "" && getOrHead && known {
		if t, ok := parseHTTPDate(req.IfModifiedSince); ok && !modtime.Truncate(time.Second).After(t) {
			return notModified(res), nil
		}
	}

	size, err := content.Seek(0, io.SeekEnd)
	if err != nil {
		return statusOnly(ContentResponse{Header: textproto.MIMEHeader{}}, 500), fmt.Errorf("%w: %v", ErrContentSeek, err)
	}
	ctype := req.ContentType
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(name))
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Accept-Ranges", "bytes")

	var ranges []ByteRange
	if getOrHead && req.Range != "" && size > 0 && ifRangeAllows(req.IfRange, etag, modtime, known) {
		ranges, err = ParseRange(req.Range, size)
		if errors.Is(err, ErrRangeNotSatisfiable) {
			// An error response must not be cached as the representation: drop its validators.
			h.Del("Etag")
			h.Del("Last-Modified")
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			return statusOnly(res, 416), nil
		}
		// Other errors: ignore the Range header (RFC 9110 §14.2 allows it).
	}

	switch len(ranges) {
	case 0:
		res.Status = 200
		res.Length = size
		h.Set("Content-Type", ctype)
		if method != "HEAD" {
			res.Body = section(content, 0, size)
		}
	case 1:
		r := ranges[0]
		res.Status = 206
		res.Length = r.Len()
		h.Set("Content-Type", ctype)
		h.Set("Content-Range", r.ContentRange(size))
		if method != "HEAD" {
			res.Body = section(content, r.Start, r.Len())
		}
	default:
		boundary := randomBoundary()
		producer := func(r ByteRange) (io.Reader, error) {
			if ra, ok := content.(io.ReaderAt); ok {
				return io.NewSectionReader(ra, r.Start, r.Len()), nil
			}
			if _, err := content.Seek(r.Start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrContentSeek, err)
			}
			return io.LimitReader(content, r.Len()), nil
		}
		body, n, err := WriteMultipleRanges(producer, ranges, size, boundary, ctype)
		if err != nil {
			// Cannot happen: the ranges come from ParseRange and the boundary is valid.
			return statusOnly(ContentResponse{Header: textproto.MIMEHeader{}}, 500), err
		}
		res.Status = 206
		res.Length = n
		h.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
		if method != "HEAD" {
			res.Body = body
		}
	}
	h.Set("Content-Length", strconv.FormatInt(res.Length, 10))
	return res, nil
}

// ServeContentAt is ServeContent for content given as an io.ReaderAt of size bytes: ranges
// are read with ReadAt, so one content value can serve concurrent requests.
func ServeContentAt(req ContentRequest, name string, modtime time.Time, etag string, content io.ReaderAt, size int64) (ContentResponse, error) {
	return ServeContent(req, name, modtime, etag, io.NewSectionReader(content, 0, size))
}

// timeFormat is the IMF-fixdate layout of RFC 9110 §5.6.7.
const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// parseHTTPDate accepts the three date forms a recipient must accept (RFC 9110 §5.6.7).
func parseHTTPDate(s string) (time.Time, bool) {
	for _, layout := range []string{timeFormat, "Monday, 02-Jan-06 15:04:05 GMT", time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func statusOnly(res ContentResponse, status int) ContentResponse {
	res.Status = status
	res.Body = nil
	res.Length = 0
	return res
}

// notModified keeps the validators of a 304 (RFC 9110 §15.4.5): ETag, and Last-Modified
// only when there is no ETag.
func notModified(res ContentResponse) ContentResponse {
	if res.Header.Get("Etag") != "" {
		res.Header.Del("Last-Modified")
	}
	return statusOnly(res, 304)
}

// ifRangeAllows evaluates If-Range (RFC 9110 §13.1.5): an entity-tag must match strongly,
// a date must equal Last-Modified exactly.
func ifRangeAllows(ifRange, etag string, modtime time.Time, known bool) bool {
	if ifRange == "" {
		return true
	}
	if tag, rest, ok := scanETag(strings.TrimSpace(ifRange)); ok {
		return strings.TrimSpace(rest) == "" && etag != "" && etagEqual(tag, etag, true)
	}
	if !known {
		return false
	}
	t, ok := parseHTTPDate(ifRange)
	return ok && t.Unix() == modtime.Unix()
}

// etagMatch reports whether the If-Match / If-None-Match list matches etag: "*" matches
// any current representation, otherwise one listed tag must compare equal (strongly for
// If-Match, weakly for If-None-Match).
func etagMatch(list, etag string, strong bool) bool {
	list = strings.TrimSpace(list)
	if list == "*" {
		return true
	}
	if etag == "" {
		return false
	}
	for list != "" {
		if list[0] == ',' || list[0] == ' ' || list[0] == '\t' {
			list = list[1:]
			continue
		}
		tag, rest, ok := scanETag(list)
		if !ok {
			return false
		}
		if etagEqual(tag, etag, strong) {
			return true
		}
		list = rest
	}
	return false
}

// scanETag reads one entity-tag (`W/"x"` or `"x"`) from the front of s.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) < start+2 || s[start] != '"' {
		return "", s, false
	}
	for i := start + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return s[:i+1], s[i+1:], true
		case c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80:
		default:
			return "", s, false
		}
	}
	return "", s, false
}

// etagEqual compares entity-tags (RFC 9110 §8.8.3.2): strongly, both must be strong and
// equal; weakly, the opaque parts must be equal.
func etagEqual(a, b string, strong bool) bool {
	aw, bw := strings.HasPrefix(a, "W/"), strings.HasPrefix(b, "W/")
	if strong {
		return !aw && !bw && a == b
	}
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// section returns a reader of n bytes from off, with ReadAt when available so that
// the content's seek offset does not matter.
func section(content io.ReadSeeker, off, n int64) io.Reader {
	if ra, ok := content.(io.ReaderAt); ok {
		return io.NewSectionReader(ra, off, n)
	}
	return &seekReader{rs: content, off: off, n: n}
}

// seekReader seeks on its first Read, so that building a response does not move the
// content before the body is actually read.
type seekReader struct {
	rs     io.ReadSeeker
	off, n int64
	sought bool
}

func (s *seekReader) Read(p []byte) (int, error) {
	if !s.sought {
		if _, err := s.rs.Seek(s.off, io.SeekStart); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrContentSeek, err)
		}
		s.sought = true
	}
	if s.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	n, err := s.rs.Read(p)
	s.n -= int64(n)
	if err == io.EOF && s.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// randomBoundary returns 32 hex digits from crypto/rand: a part cannot contain it
// except by a 2^-128 chance.
func randomBoundary() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
