// Package body holds the HTTP/1.1 message-body codecs, the CIO helpers of the seed
// (chunked*.go, multipart*.go, ranges*.go, content*.go), as streaming Go values that
// depend on nothing but io.Reader and the standard library, so any HTTP layer (rawws's
// http engine or net/http) can use them. It imports the standard library only: keep it
// so (go list -deps ./http/body names no module package but this one).
//
//   - DecodeChunked / NewChunkedWriter: the chunked transfer coding (RFC 9112 §7.1).
//   - ParseMultipart, ParseMultipartType, ParseMultipartBoundary: multipart bodies
//     (RFC 2046 §5.1, RFC 7578) as Preamble / Part / Epilogue events, pulled with Next or
//     All or pushed on a channel by Events.
//   - ParseRange, CoalesceRanges, WriteMultipleRanges, ServeContent: range requests and
//     conditional requests (RFC 9110 §13, §14).
//
// Every size a peer controls is bounded; each bound has its own exported error.
//
// Deliberate differences from the standard library, checked by the differential tests:
//
// Chunked decoding, against net/http/httputil.NewChunkedReader:
//   - a chunk size with more than 16 hex digits is accepted when its value fits in an
//     int64 (leading zeros); httputil refuses any 17th digit;
//   - there is no "too much non-data" rule (httputil fails when chunk overhead exceeds
//     16 KiB more than the data); tiny chunks cost CPU, not memory, here;
//   - whitespace before a chunk extension's ';' (BWS, RFC 9112 §7.1.1) is accepted;
//     httputil refuses it;
//   - chunk extensions holding control bytes (other than HTAB) are refused;
//   - the trailer section is read, bounded and validated, and must end with CRLF;
//     httputil stops after the last-chunk line and leaves the trailer to its caller.
//
// Multipart parsing, against mime/multipart (NextRawPart):
//   - lines must end in CRLF: a bare LF ends nothing and is refused in part headers and
//     boundary lines (mime/multipart accepts LF-only bodies);
//   - part headers may not be folded (obs-fold) and names must be tokens;
//   - after a close delimiter only transport padding and CRLF may follow on its line, the
//     rest is the Epilogue (mime/multipart does not read past the close delimiter).
//
// ServeContent, against net/http.ServeContent:
//   - an invalid or non-bytes Range, more than MaxRanges ranges, or ranges that add up to
//     more than the size give 200 with the whole content (RFC 9110 §14.2: a server MAY
//     ignore it); net/http answers 416 to an invalid one;
//   - the range unit is case-insensitive (RFC 9110 §14.1), and positions too large for an
//     int64 are clamped to the size; net/http answers 416 to both;
//   - the suffix range "-0" is unsatisfiable (RFC 9110 §14.1.1); net/http answers a
//     malformed 206;
//   - a Range on an empty representation is ignored (200, empty);
//   - ranges that overlap or lie within RangeCoalesceGap bytes are merged, so fewer parts
//     (or a single-part 206) may be sent for the same bytes;
//   - Range is honoured for GET and HEAD only (RFC 9110 §14.2); net/http also for others;
//   - the content type is not sniffed: ContentRequest.ContentType, else the extension,
//     else application/octet-stream;
//   - 416, 412 and 304 responses carry no body.
package body
