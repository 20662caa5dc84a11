package body

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Range limits. A Range header is cheap to send and expensive to serve, so its shape is bounded.
const (
	// MaxRanges bounds the range-specs in one Range header; more is ErrTooManyRanges.
	MaxRanges = 100
	// RangeCoalesceGap: ranges closer than this (in bytes) are merged into one, because
	// the part header of multipart/byteranges costs about as much as the gap (RFC 9110 §14.3).
	RangeCoalesceGap = 80
)

// Errors of range parsing and of WriteMultipleRanges.
var (
	// ErrRangeInvalid: the Range header is not a valid bytes ranges-specifier, or a
	// ByteRange given to WriteMultipleRanges is not within the representation.
	ErrRangeInvalid = errors.New("http: invalid range")
	// ErrRangeUnit: the range unit is not "bytes"; RFC 9110 §14.2 says to ignore the header.
	ErrRangeUnit = errors.New("http: unsupported range unit")
	// ErrRangeNotSatisfiable: no range overlaps the representation (answer 416 with
	// Content-Range: bytes */size).
	ErrRangeNotSatisfiable = errors.New("http: range not satisfiable")
	// ErrTooManyRanges: more than MaxRanges range-specs.
	ErrTooManyRanges = errors.New("http: too many ranges")
	// ErrRangeOverlap: the satisfiable ranges add up to more bytes than the representation,
	// which only an attacker or a broken client asks for.
	ErrRangeOverlap = errors.New("http: ranges overlap too much")
	// ErrRangeShort: a producer's reader ended before its range did.
	ErrRangeShort = errors.New("http: range producer gave fewer bytes than its range")
)

// ByteRange is a byte range of a representation: Start and End are both included
// (the form of a Content-Range), so its length is End-Start+1.
type ByteRange struct{ Start, End int64 }

// Len returns End-Start+1.
func (r ByteRange) Len() int64 { return r.End - r.Start + 1 }

// ContentRange formats the Content-Range value "bytes Start-End/size"; size < 0 writes "*".
func (r ByteRange) ContentRange(size int64) string {
	b := make([]byte, 0, 64)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.End, 10)
	b = append(b, '/')
	if size < 0 {
		b = append(b, '*')
	} else {
		b = strconv.AppendInt(b, size, 10)
	}
	return string(b)
}

// ParseRange parses a Range header value (RFC 9110 §14.1.2) against a representation of
// size bytes (size >= 0) and returns the ranges to send, each within [0, size).
//
//   - "bytes=" is case-insensitive; another unit is ErrRangeUnit (ignore the header).
//   - first-last, first- (to the end) and -suffix (the last suffix bytes) forms, comma
//     separated with optional whitespace; empty list elements are skipped. A syntax error,
//     last < first, or an empty list is ErrRangeInvalid.
//   - Ranges starting at or after size, and "-0", are dropped; if none is left the
//     result is ErrRangeNotSatisfiable (so any range on an empty representation is).
//   - More than MaxRanges range-specs is ErrTooManyRanges; satisfiable ranges adding up to
//     more than size bytes is ErrRangeOverlap. Both mean: ignore the header, send 200.
//   - Ranges that overlap or lie closer than RangeCoalesceGap are merged, and then the
//     result is sorted; when nothing merges, the request's order is kept.
func ParseRange(header string, size int64) ([]ByteRange, error) {
	unit, set, ok := strings.Cut(header, "=")
	if !ok {
		return nil, fmt.Errorf("%w: no '=' in %q", ErrRangeInvalid, cut(header))
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		if isToken(unit) {
			return nil, fmt.Errorf("%w: %q", ErrRangeUnit, cut(unit))
		}
		return nil, fmt.Errorf("%w: bad unit %q", ErrRangeInvalid, cut(unit))
	}
	var ranges []ByteRange
	specs := 0
	var sum int64
	for elem := range strings.SplitSeq(set, ",") {
		elem = strings.Trim(elem, " \t")
		if elem == "" {
			continue
		}
		specs++
		if specs > MaxRanges {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyRanges, MaxRanges)
		}
		first, last, ok := strings.Cut(elem, "-")
		if !ok {
			return nil, fmt.Errorf("%w: no '-' in %q", ErrRangeInvalid, cut(elem))
		}
		var r ByteRange
		if first == "" {
			n, ok := parsePos(last)
			if !ok {
				return nil, fmt.Errorf("%w: suffix %q", ErrRangeInvalid, cut(elem))
			}
			if n == 0 || size <= 0 {
				continue // unsatisfiable (RFC 9110 §14.1.1)
			}
			r = ByteRange{Start: max(0, size-n), End: size - 1}
		} else {
			s, ok := parsePos(first)
			if !ok {
				return nil, fmt.Errorf("%w: first-pos in %q", ErrRangeInvalid, cut(elem))
			}
			e := int64(-1)
			if last != "" {
				if e, ok = parsePos(last); !ok {
					return nil, fmt.Errorf("%w: last-pos in %q", ErrRangeInvalid, cut(elem))
				}
				if e < s {
					return nil, fmt.Errorf("%w: last-pos before first-pos in %q", ErrRangeInvalid, cut(elem))
				}
			}
			if s >= size {
				continue
			}
			if e < 0 || e >= size {
				e = size - 1
			}
			r = ByteRange{Start: s, End: e}
		}
		sum += r.Len() // no overflow: each length is at most size
		if sum > size {
			return nil, fmt.Errorf("%w: more than %d bytes requested", ErrRangeOverlap, size)
		}
		ranges = append(ranges, r)
	}
	if specs == 0 {
		return nil, fmt.Errorf("%w: no range in %q", ErrRangeInvalid, cut(header))
	}
	if len(ranges) == 0 {
		return nil, ErrRangeNotSatisfiable
	}
	return CoalesceRanges(ranges, RangeCoalesceGap), nil
}

// CoalesceRanges merges ranges that overlap, touch, or are separated by fewer than gap bytes, and
// returns them sorted by Start. If no two ranges merge, it returns rs unchanged (in its
// order). rs may be reordered.
func CoalesceRanges(rs []ByteRange, gap int64) []ByteRange {
	if len(rs) < 2 {
		return rs
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b ByteRange) int {
		if a.Start != b.Start {
			if a.Start < b.Start {
				return -1
			}
			return 1
		}
		return 0
	})
	out := sorted[:1]
	for _, r := range sorted[1:] {
		last := &out[len(out)-1]
		if r.Start <= last.End+1 || r.Start-last.End-1 < gap {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	if len(out) == len(rs) {
		return rs
	}
	return out
}

func parsePos(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63-1-9)/10 {
			// A position past any real size: clamp instead of failing, positions that
			// large still mean "to the end".
			n = 1<<63 - 1
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

func cut(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// WriteMultipleRanges returns a multipart/byteranges body (RFC 9110 §14.6) with one part
// per range, in the given order, and its exact length. fullLength is the representation's
// size, or -1 when unknown (Content-Range then ends in "/*"). contentType, when not empty,
// is written as each part's Content-Type. The boundary must be a valid RFC 2046 boundary;
// the response's Content-Type is "multipart/byteranges; boundary=" + boundary.
//
// Nothing is read up front: producer(r) is called when the reader reaches range r, and
// its reader must give at least r.Len() bytes (more are not read; fewer fail the body
// with ErrRangeShort). If it is an io.Closer it is closed after its part. Ranges must
// satisfy 0 <= Start <= End (< fullLength when known), or ErrRangeInvalid is returned.
func WriteMultipleRanges(producer func(r ByteRange) (io.Reader, error), ranges []ByteRange, fullLength int64, boundary, contentType string) (io.Reader, int64, error) {
	if err := ValidBoundary(boundary); err != nil {
		return nil, 0, err
	}
	if len(ranges) == 0 {
		return nil, 0, fmt.Errorf("%w: no ranges", ErrRangeInvalid)
	}
	w := &rangesReader{producer: producer, ranges: slices.Clone(ranges), heads: make([]string, len(ranges))}
	var total int64
	for i, r := range ranges {
		if r.Start < 0 || r.End < r.Start || (fullLength >= 0 && r.End >= fullLength) {
			return nil, 0, fmt.Errorf("%w: %d-%d of %d", ErrRangeInvalid, r.Start, r.End, fullLength)
		}
		var b strings.Builder
		b.WriteString("--")
		b.WriteString(boundary)
		b.WriteString("\r\n")
		if contentType != "" {
			b.WriteString("Content-Type: ")
			b.WriteString(contentType)
			b.WriteString("\r\n")
		}
		b.WriteString("Content-Range: ")
		b.WriteString(r.ContentRange(fullLength))
		b.WriteString("\r\n\r\n")
		w.heads[i] = b.String()
		total += int64(len(w.heads[i])) + r.Len() + 2
	}
	w.tail = "--" + boundary + "--\r\n"
	total += int64(len(w.tail))
	return w, total, nil
}

// rangesReader produces the multipart/byteranges body piece by piece: a part head, the
// range's bytes from its producer, the CRLF ending the part, then the close delimiter.
type rangesReader struct {
	producer func(ByteRange) (io.Reader, error)
	ranges   []ByteRange
	heads    []string
	tail     string

	i    int // current range
	step int // 0 head, 1 data, 2 CRLF
	off  int // offset within the head, CRLF or tail string
	src  io.Reader
	left int64 // bytes of the current range still to read
	zero int   // consecutive empty reads from the producer
	err  error
}

func (w *rangesReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && w.err == nil {
		if w.i == len(w.ranges) {
			c := copy(p[n:], w.tail[w.off:])
			n += c
			w.off += c
			if w.off == len(w.tail) {
				w.err = io.EOF
			}
			continue
		}
		switch w.step {
		case 0:
			h := w.heads[w.i]
			c := copy(p[n:], h[w.off:])
			n += c
			w.off += c
			if w.off == len(h) {
				w.step, w.off = 1, 0
				r := w.ranges[w.i]
				src, err := w.producer(r)
				if err != nil {
					w.err = fmt.Errorf("http: producing range %d-%d: %w", r.Start, r.End, err)
					break
				}
				w.src, w.left = src, r.Len()
			}
		case 1:
			buf := p[n:]
			if int64(len(buf)) > w.left {
				buf = buf[:w.left]
			}
			c, err := w.src.Read(buf)
			n += c
			w.left -= int64(c)
			switch {
			case w.left == 0:
				w.closeSrc()
				w.step = 2
			case err == io.EOF:
				w.closeSrc()
				r := w.ranges[w.i]
				w.err = fmt.Errorf("%w: range %d-%d, %d bytes missing", ErrRangeShort, r.Start, r.End, w.left)
			case err != nil:
				w.closeSrc()
				w.err = err
			case c == 0:
				w.zero++
				if w.zero >= 100 {
					w.closeSrc()
					w.err = io.ErrNoProgress
				}
			default:
				w.zero = 0
			}
			if w.step == 1 && c > 0 {
				return n, nil // give the caller what the producer had, do not block for more
			}
		case 2:
			c := copy(p[n:], "\r\n"[w.off:])
			n += c
			w.off += c
			if w.off == 2 {
				w.i++
				w.step, w.off = 0, 0
			}
		}
	}
	if n > 0 && w.err == io.EOF {
		return n, nil
	}
	return n, w.err
}

func (w *rangesReader) closeSrc() {
	if c, ok := w.src.(io.Closer); ok {
		c.Close()
	}
	w.src = nil
}
