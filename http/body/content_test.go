package body

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testModTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	testETag    = `"v1"`
)

// testContent is size bytes of readable text.
func testContent(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
		if i%61 == 60 {
			b[i] = '\n'
		}
	}
	return b
}

// rangeCorpus are Range headers for the differential test and the fuzz seeds (size 100).
var rangeCorpus = []string{
	"", "bytes=0-0", "bytes=0-99", "bytes=0-", "bytes=50-", "bytes=-1", "bytes=-100", "bytes=-200",
	"bytes=99-99", "bytes=100-", "bytes=100-200", "bytes=5-1000",
	"bytes=0-9,90-99", "bytes=0-9, 50-59, 90-", "bytes=90-99,0-9", "bytes=-5,0-4",
	"bytes=0-9,5-14", "bytes=0-9,10-19", "bytes=0-0,2-2", "bytes=0-49,50-99", "bytes=0-50,50-99",
	"bytes=0-,0-", "bytes=-0", "bytes=-0,0-0", "bytes=,0-1", "bytes=", "bytes=,",
	"bytes=5-3", "bytes=a-b", "bytes=1-2-3", "items=0-1", "bytes=0 - 5", "bytes=+1-2",
	"bytes=99999999999999999999-", "bytes=-99999999999999999999", "BYTES=0-0",
	"bytes=200-300,0-1", "bytes=200-300,300-400",
}

// stdServe runs net/http.ServeContent for req.
func stdServe(req ContentRequest, content []byte) *httptest.ResponseRecorder {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	r := httptest.NewRequest(method, "/f.txt", nil)
	for k, v := range map[string]string{"Range": req.Range, "If-Range": req.IfRange, "If-Match": req.IfMatch,
		"If-None-Match": req.IfNoneMatch, "If-Modified-Since": req.IfModifiedSince, "If-Unmodified-Since": req.IfUnmodifiedSince} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	w.Header().Set("Etag", testETag)
	nethttp.ServeContent(w, r, "f.txt", testModTime, bytes.NewReader(content))
	return w
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// rangesOf checks that a 206 body holds the right bytes for its Content-Range(s) and
// returns the ranges; zero-length ranges (a net/http quirk) are returned as {s, s-1}.
func rangesOf(t *testing.T, who string, h textproto.MIMEHeader, body, content []byte) []ByteRange {
	t.Helper()
	check := func(cr string, data []byte) ByteRange {
		m := contentRangeRE.FindStringSubmatch(cr)
		if m == nil {
			t.Fatalf("%s: Content-Range %q", who, cr)
		}
		s, _ := strconv.ParseInt(m[1], 10, 64)
		e, _ := strconv.ParseInt(m[2], 10, 64)
		if m[3] != strconv.Itoa(len(content)) || e >= int64(len(content)) || s > e+1 || !bytes.Equal(data, content[s:e+1]) {
			t.Fatalf("%s: %q with %d bytes %q", who, cr, len(data), data)
		}
		return ByteRange{s, e}
	}
	if strings.HasPrefix(h.Get("Content-Type"), "multipart/byteranges") {
		var out []ByteRange
		for _, p := range partsOf(t, h.Get("Content-Type"), body) {
			if p[0] != "text/plain; charset=utf-8" {
				t.Fatalf("%s: part type %q", who, p[0])
			}
			out = append(out, check(p[1], []byte(p[2])))
		}
		return out
	}
	return []ByteRange{check(h.Get("Content-Range"), body)}
}

// coverage is the set of bytes the ranges select.
func coverage(rs []ByteRange, size int) []bool {
	c := make([]bool, size)
	for _, r := range rs {
		for i := r.Start; i <= r.End; i++ {
			c[i] = true
		}
	}
	return c
}

// checkServeContentAgainstStd compares ServeContent with net/http.ServeContent for one
// request, allowing only the differences documented in bodies_doc.go.
func checkServeContentAgainstStd(t *testing.T, req ContentRequest, content []byte) {
	t.Helper()
	w := stdServe(req, content)
	res, err := ServeContent(req, "f.txt", testModTime, testETag, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	if res.Body != nil {
		if body, err = io.ReadAll(res.Body); err != nil {
			t.Fatal(err)
		}
	}
	if int64(len(body)) != res.Length && res.Body != nil || res.Header.Get("Content-Length") != "" && res.Header.Get("Content-Length") != strconv.FormatInt(res.Length, 10) {
		t.Fatalf("%+v: Length %d, Content-Length %q, body %d bytes", req, res.Length, res.Header.Get("Content-Length"), len(body))
	}
	_, rangeErr := ParseRange(req.Range, int64(len(content)))
	ignored := req.Range != "" && (errors.Is(rangeErr, ErrRangeInvalid) || errors.Is(rangeErr, ErrRangeUnit) || errors.Is(rangeErr, ErrTooManyRanges))
	std := w.Result().StatusCode
	desc := fmt.Sprintf("%+v: ours %d, net/http %d %q", req, res.Status, std, w.Header().Get("Content-Range"))

	if res.Status != std {
		switch {
		case ignored && res.Status == 200:
			if !bytes.Equal(body, content) && req.Method != "HEAD" {
				t.Fatalf("%s: ignored range but body differs", desc)
			}
			return
		case errors.Is(rangeErr, ErrRangeOverlap) && res.Status == 200 && std == 416:
			return // we stopped at the overlap before a later invalid spec
		case std == 206 && res.Status == 416 && req.Method == "HEAD":
			// net/http keeps a zero-length suffix range ("-0"): "bytes 100-99/100".
			m := contentRangeRE.FindStringSubmatch(w.Header().Get("Content-Range"))
			if m != nil {
				s, _ := strconv.Atoi(m[1])
				e, _ := strconv.Atoi(m[2])
				if e == s-1 {
					return
				}
			}
		case std == 206 && res.Status == 416:
			// net/http keeps zero-length suffix ranges ("-0").
			for _, r := range rangesOf(t, "net/http", textproto.MIMEHeader(w.Header()), w.Body.Bytes(), content) {
				if r.Len() != 0 {
					t.Fatalf("%s", desc)
				}
			}
			return
		case std == 416 && res.Status == 206 && regexp.MustCompile(`\d{19}`).MatchString(req.Range):
			return // net/http fails on positions beyond int64; we clamp them
		case std == 416 && res.Status == 206 && !strings.HasPrefix(req.Range, "bytes="):
			return // the unit is case-insensitive (RFC 9110 §14.1); net/http wants "bytes="
		}
		t.Fatalf("%s", desc)
	}
	for _, k := range []string{"Etag", "Last-Modified"} {
		if res.Header.Get(k) != w.Header().Get(k) {
			t.Fatalf("%s: %s %q, net/http %q", desc, k, res.Header.Get(k), w.Header().Get(k))
		}
	}
	switch res.Status {
	case 200:
		for _, k := range []string{"Accept-Ranges", "Content-Length", "Content-Type"} {
			if res.Header.Get(k) != w.Header().Get(k) {
				t.Fatalf("%s: %s %q, net/http %q", desc, k, res.Header.Get(k), w.Header().Get(k))
			}
		}
		if !bytes.Equal(body, w.Body.Bytes()) {
			t.Fatalf("%s: bodies differ", desc)
		}
	case 416:
		// net/http sends no Content-Range when its 416 is for a syntax it refuses and we
		// accept (a case-insensitive unit, huge positions).
		if std := w.Header().Get("Content-Range"); std != "" && res.Header.Get("Content-Range") != std {
			t.Fatalf("%s: Content-Range %q", desc, res.Header.Get("Content-Range"))
		}
	case 206:
		if req.Method == "HEAD" {
			return
		}
		ours := rangesOf(t, "ours", res.Header, body, content)
		theirs := rangesOf(t, "net/http", textproto.MIMEHeader(w.Header()), w.Body.Bytes(), content)
		var nonEmpty []ByteRange
		for _, r := range theirs {
			if r.Len() > 0 {
				nonEmpty = append(nonEmpty, r)
			}
		}
		if len(ours) == len(nonEmpty) {
			for i := range ours {
				if ours[i] != nonEmpty[i] {
					t.Fatalf("%s: ranges %v, net/http %v", desc, ours, theirs)
				}
			}
			if len(theirs) == 1 && res.Header.Get("Content-Type") != w.Header().Get("Content-Type") {
				t.Fatalf("%s: Content-Type %q", desc, res.Header.Get("Content-Type"))
			}
			return
		}
		// Coalesced: we send fewer parts, covering at least the same bytes and at most
		// the gaps between them.
		if len(ours) > len(nonEmpty) {
			t.Fatalf("%s: more parts than net/http: %v vs %v", desc, ours, theirs)
		}
		have, want := coverage(ours, len(content)), coverage(nonEmpty, len(content))
		for i := range want {
			if want[i] && !have[i] {
				t.Fatalf("%s: byte %d missing: %v vs %v", desc, i, ours, theirs)
			}
		}
	}
}

func TestServeContentAgainstNetHTTP(t *testing.T) {
	content := testContent(100)
	for _, h := range rangeCorpus {
		for _, method := range []string{"GET", "HEAD"} {
			checkServeContentAgainstStd(t, ContentRequest{Method: method, Range: h}, content)
		}
	}
	lm := testModTime.Format(nethttp.TimeFormat)
	older := testModTime.Add(-time.Hour).Format(nethttp.TimeFormat)
	newer := testModTime.Add(time.Hour).Format(nethttp.TimeFormat)
	conditional := []ContentRequest{
		{IfNoneMatch: testETag}, {IfNoneMatch: `W/"v1"`}, {IfNoneMatch: `"x", "v1"`}, {IfNoneMatch: "*"}, {IfNoneMatch: `"x"`},
		{IfNoneMatch: testETag, Method: "HEAD"},
		{IfModifiedSince: lm}, {IfModifiedSince: older}, {IfModifiedSince: newer}, {IfModifiedSince: "garbage"},
		{IfModifiedSince: lm, IfNoneMatch: `"x"`},
		{IfMatch: testETag}, {IfMatch: `"x"`}, {IfMatch: "*"}, {IfMatch: `W/"v1"`}, {IfMatch: `"x", "v1"`},
		{IfUnmodifiedSince: lm}, {IfUnmodifiedSince: older}, {IfUnmodifiedSince: newer},
		{Range: "bytes=0-9", IfRange: testETag}, {Range: "bytes=0-9", IfRange: `"x"`}, {Range: "bytes=0-9", IfRange: `W/"v1"`},
		{Range: "bytes=0-9", IfRange: lm}, {Range: "bytes=0-9", IfRange: older},
		{Range: "bytes=0-9,20-29", IfRange: testETag}, {Range: "bytes=0-9", IfRange: lm, IfNoneMatch: `"x"`},
		{Range: "bytes=0-9", IfMatch: `"x"`}, {Range: "bytes=500-", IfRange: `"x"`},
	}
	for _, req := range conditional {
		checkServeContentAgainstStd(t, req, content)
	}
}

func TestServeContent(t *testing.T) {
	content := testContent(1000)
	type want struct {
		status int
		header map[string]string
		body   string
	}
	tests := []struct {
		req  ContentRequest
		want want
	}{
		{ContentRequest{}, want{200, map[string]string{"Content-Length": "1000", "Accept-Ranges": "bytes", "Content-Type": "text/plain; charset=utf-8"}, string(content)}},
		{ContentRequest{Method: "HEAD"}, want{200, map[string]string{"Content-Length": "1000"}, ""}},
		{ContentRequest{Range: "bytes=10-19"}, want{206, map[string]string{"Content-Range": "bytes 10-19/1000", "Content-Length": "10"}, string(content[10:20])}},
		{ContentRequest{Range: "bytes=1000-"}, want{416, map[string]string{"Content-Range": "bytes */1000", "Content-Length": ""}, ""}},
		{ContentRequest{Range: "bytes=-0"}, want{416, map[string]string{"Content-Range": "bytes */1000"}, ""}},
		{ContentRequest{Range: "bytes=5-3"}, want{200, map[string]string{"Content-Range": ""}, string(content)}},
		{ContentRequest{Range: "items=1-2"}, want{200, nil, string(content)}},
		{ContentRequest{Range: "bytes=0-,0-"}, want{200, nil, string(content)}},
		{ContentRequest{Method: "POST", Range: "bytes=0-1"}, want{200, nil, string(content)}},
		{ContentRequest{IfNoneMatch: testETag}, want{304, map[string]string{"Etag": testETag, "Last-Modified": "", "Content-Length": ""}, ""}},
		{ContentRequest{IfNoneMatch: testETag, Method: "POST"}, want{412, nil, ""}},
		{ContentRequest{IfMatch: `"other"`}, want{412, nil, ""}},
		{ContentRequest{ContentType: "application/x-thing"}, want{200, map[string]string{"Content-Type": "application/x-thing"}, string(content)}},
	}
	for _, tc := range tests {
		res, err := ServeContent(tc.req, "file.txt", testModTime, testETag, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != tc.want.status {
			t.Errorf("%+v: status %d, want %d", tc.req, res.Status, tc.want.status)
			continue
		}
		for k, v := range tc.want.header {
			if res.Header.Get(k) != v {
				t.Errorf("%+v: %s %q, want %q", tc.req, k, res.Header.Get(k), v)
			}
		}
		var body []byte
		if res.Body != nil {
			body, _ = io.ReadAll(res.Body)
		}
		if string(body) != tc.want.body {
			t.Errorf("%+v: body %d bytes, want %d", tc.req, len(body), len(tc.want.body))
		}
	}
}

func TestServeContentEdgeCases(t *testing.T) {
	// An empty representation ignores Range.
	res, _ := ServeContent(ContentRequest{Range: "bytes=-5"}, "e.bin", time.Time{}, "", bytes.NewReader(nil))
	if res.Status != 200 || res.Length != 0 || res.Header.Get("Content-Type") != "application/octet-stream" || res.Header.Get("Last-Modified") != "" {
		t.Fatalf("empty: %+v", res)
	}
	// Multi-range over a plain io.ReadSeeker (no ReaderAt): parts are read in sequence.
	content := testContent(1000)
	res, err := ServeContent(ContentRequest{Range: "bytes=900-909,0-9,500-509"}, "f.txt", testModTime, "", seekOnly{bytes.NewReader(content)})
	if err != nil || res.Status != 206 {
		t.Fatalf("%+v %v", res, err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil || int64(len(body)) != res.Length {
		t.Fatalf("%d bytes of %d: %v", len(body), res.Length, err)
	}
	parts := partsOf(t, res.Header.Get("Content-Type"), body)
	if len(parts) != 3 || parts[0][2] != string(content[900:910]) || parts[1][2] != string(content[:10]) || parts[2][1] != "bytes 500-509/1000" {
		t.Fatalf("parts %q", parts)
	}
	// Building the response does not move a ReadSeeker's position for the body.
	rs := seekOnly{bytes.NewReader(content)}
	res, _ = ServeContent(ContentRequest{Range: "bytes=10-14"}, "f.txt", testModTime, "", rs)
	rs.Seek(0, io.SeekStart)
	if b, _ := io.ReadAll(res.Body); string(b) != string(content[10:15]) {
		t.Fatalf("got %q", b)
	}
	// ServeContentAt reads ranges with ReadAt.
	res, err = ServeContentAt(ContentRequest{Range: "bytes=-3"}, "f.txt", testModTime, "", bytes.NewReader(content), int64(len(content)))
	if b, _ := io.ReadAll(res.Body); err != nil || res.Status != 206 || string(b) != string(content[997:]) {
		t.Fatalf("ServeContentAt: %d %q %v", res.Status, b, err)
	}
	// Seek failure.
	if res, err := ServeContent(ContentRequest{}, "f", testModTime, "", badSeeker{}); !errors.Is(err, ErrContentSeek) || res.Status != 500 {
		t.Fatalf("%+v %v", res, err)
	}
}

type seekOnly struct{ r *bytes.Reader }

func (s seekOnly) Read(p []byte) (int, error)               { return s.r.Read(p) }
func (s seekOnly) Seek(off int64, wh int) (int64, error)    { return s.r.Seek(off, wh) }
func (badSeeker) Read(p []byte) (int, error)                { return 0, io.EOF }
func (badSeeker) Seek(off int64, whence int) (int64, error) { return 0, errors.New("no seek") }

type badSeeker struct{}
