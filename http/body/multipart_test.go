package body

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// mpEvent is an event with its body read, for comparisons.
type mpEvent struct {
	kind   string // "preamble", "part", "epilogue"
	header textproto.MIMEHeader
	data   string
}

func collectNext(m *MultipartReader) ([]mpEvent, error) {
	var out []mpEvent
	for i := 0; i < 100000; i++ {
		ev, err := m.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch e := ev.(type) {
		case Preamble:
			out = append(out, mpEvent{kind: "preamble", data: string(e.Data)})
		case Epilogue:
			out = append(out, mpEvent{kind: "epilogue", data: string(e.Data)})
		case Part:
			b, err := io.ReadAll(e.Body)
			out = append(out, mpEvent{kind: "part", header: e.Header, data: string(b)})
			if err != nil {
				return out, err
			}
		}
	}
	panic("too many events")
}

func parseBody(t testing.TB, boundary, body string, l *MultipartLimits) *MultipartReader {
	t.Helper()
	m, err := ParseMultipartBoundary(context.Background(), []byte("--"+boundary), strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if l != nil {
		if err := m.SetLimits(*l); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestMultipartEvents(t *testing.T) {
	tests := []struct {
		name, body string
		want       []mpEvent
	}{
		{"one part", "--b\r\nA: 1\r\n\r\nhello\r\n--b--\r\n",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{"A": {"1"}}, data: "hello"}}},
		{"preamble and epilogue", "pre\r\namble\r\n--b\r\n\r\nx\r\n--b--\r\nthe end\r\n",
			[]mpEvent{{kind: "preamble", data: "pre\r\namble"}, {kind: "part", header: textproto.MIMEHeader{}, data: "x"}, {kind: "epilogue", data: "the end\r\n"}}},
		{"two parts, empty body", "--b\r\nContent-Type: text/plain\r\n\r\n\r\n--b\r\nx-y: z\r\n\r\nzz\r\n--b--",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{"Content-Type": {"text/plain"}}}, {kind: "part", header: textproto.MIMEHeader{"X-Y": {"z"}}, data: "zz"}}},
		{"transport padding", "--b \t\r\n\r\nx\r\n--b\t\r\n\r\ny\r\n--b-- \r\n",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{}, data: "x"}, {kind: "part", header: textproto.MIMEHeader{}, data: "y"}}},
		{"boundary-like content", "--b\r\n\r\nx--b\r\n--bx\r\n--b-x\r\n-\r\n--\r\n--b\r\n\r\n\r\n--b--\r\n",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{}, data: "x--b\r\n--bx\r\n--b-x\r\n-\r\n--"}, {kind: "part", header: textproto.MIMEHeader{}}}},
		// RFC 2046: body-part := MIME-part-headers [CRLF *OCTET]; the CRLF
		// ending the header block is then the delimiter's (as mime/multipart
		// reads it too).
		{"delimiter right after the header block", "--b\r\nA: 1\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{"A": {"1"}}}, {kind: "part", header: textproto.MIMEHeader{}, data: "x"}}},
		{"close right after the header block", "--b\r\n\r\n--b--",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{}}}},
		{"CR LF inside part", "--b\r\n\r\n\r\n\r\n\r\r\n--b--\r\n",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{}, data: "\r\n\r\n\r"}}},
		{"no parts", "--b--\r\n", nil},
		{"repeated header", "--b\r\nA: 1\r\na: 2\r\n\r\n\r\n--b--\r\n",
			[]mpEvent{{kind: "part", header: textproto.MIMEHeader{"A": {"1", "2"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collectNext(parseBody(t, "b", tc.body, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !equalEvents(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			// One byte at a time, length unknown.
			m, _ := ParseMultipartBoundary(context.Background(), []byte("--b"), iotest.OneByteReader(strings.NewReader(tc.body)), -1)
			got, err = collectNext(m)
			if err != nil || !equalEvents(got, tc.want) {
				t.Fatalf("one byte reads: %+v %v", got, err)
			}
		})
	}
}

func equalEvents(a, b []mpEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].kind != b[i].kind || a[i].data != b[i].data || !equalHeader(a[i].header, b[i].header) {
			return false
		}
	}
	return true
}

func TestMultipartMalformed(t *testing.T) {
	tests := []struct {
		name, body string
		want       error
	}{
		{"no boundary", "hello", io.ErrUnexpectedEOF},
		{"empty", "", io.ErrUnexpectedEOF},
		{"no close delimiter", "--b\r\n\r\nhello", io.ErrUnexpectedEOF},
		{"ends in header", "--b\r\nA: 1\r\n", io.ErrUnexpectedEOF},
		{"junk after boundary", "--b junk\r\n\r\nx\r\n--b--\r\n", ErrMultipartMalformed},
		{"bare LF after boundary", "--b\n\r\nx\r\n--b--\r\n", ErrMultipartMalformed},
		{"bare LF in header", "--b\r\nA: 1\n\r\nx\r\n--b--\r\n", ErrMultipartMalformed},
		{"bare CR in header", "--b\r\nA: 1\r2\r\n\r\nx\r\n--b--\r\n", ErrMultipartMalformed},
		{"header without colon", "--b\r\nA\r\n\r\nx\r\n--b--\r\n", ErrMultipartMalformed},
		{"folded header", "--b\r\nA: 1\r\n 2\r\n\r\nx\r\n--b--\r\n", ErrMultipartMalformed},
		{"junk after close", "--b\r\n\r\nx\r\n--b--x\r\n", ErrMultipartMalformed},
		{"close delimiter then LF", "--b\r\n\r\nx\r\n--b--\n", ErrMultipartMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collectNext(parseBody(t, "b", tc.body, nil))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMultipartTotalLength(t *testing.T) {
	body := "--b\r\n\r\nhello\r\n--b--\r\nEPILOGUE"
	// The source is not read past totalLength: the epilogue is cut there.
	m, _ := ParseMultipartBoundary(context.Background(), []byte("--b"), strings.NewReader(body), int64(len(body)-3))
	got, err := collectNext(m)
	if err != nil || len(got) != 2 || got[1].data != "EPILO" {
		t.Fatalf("%+v %v", got, err)
	}
	// A source ending in the epilogue before the announced length is an unexpected EOF.
	m, _ = ParseMultipartBoundary(context.Background(), []byte("--b"), strings.NewReader(body), int64(len(body)+1))
	if _, err := collectNext(m); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short epilogue: %v", err)
	}
	// A shorter source than announced is an unexpected EOF.
	m, _ = ParseMultipartBoundary(context.Background(), []byte("--b"), strings.NewReader(body[:10]), int64(len(body)))
	if _, err := collectNext(m); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
}

func TestValidBoundary(t *testing.T) {
	for _, b := range []string{"a", "0", strings.Repeat("x", 70), "'()+_,-./:=? x", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a b"} {
		if err := ValidBoundary(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	for _, b := range []string{"", strings.Repeat("x", 71), "a ", "a\"", "a;b", "a\r", "é", "a\tb", "a@b"} {
		if err := ValidBoundary(b); !errors.Is(err, ErrMultipartBoundary) {
			t.Errorf("%q: %v", b, err)
		}
	}
}

func TestParseMultipartType(t *testing.T) {
	ctx := context.Background()
	body := "--a b\r\n\r\nx\r\n--a b--\r\n"
	for _, ct := range []string{`multipart/form-data; boundary="a b"`, `Multipart/Mixed; charset=utf-8; BOUNDARY="a b"`} {
		m, err := ParseMultipartType(ctx, strings.NewReader(body), ct, -1)
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		got, err := collectNext(m)
		if err != nil || len(got) != 1 || got[0].data != "x" {
			t.Fatalf("%s: %+v %v", ct, got, err)
		}
	}
	m, err := ParseMultipartType(ctx, strings.NewReader("--xyz\r\n\r\nq\r\n--xyz--"), "multipart/mixed; boundary=xyz", -1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collectNext(m); err != nil || len(got) != 1 || got[0].data != "q" {
		t.Fatalf("%+v %v", got, err)
	}
	bad := []struct {
		ct   string
		want error
	}{
		{"", ErrNotMultipart},
		{"text/plain; boundary=x", ErrNotMultipart},
		{"multipart/form-data", ErrMultipartBoundary},
		{"multipart/form-data; boundary=", ErrNotMultipart}, // mime.ParseMediaType refuses an empty value
		{`multipart/form-data; boundary="a "`, ErrMultipartBoundary},
		{"multipart/form-data; boundary=" + strings.Repeat("x", 71), ErrMultipartBoundary},
		{"multipart/form-data; boundary=" + strings.Repeat("x", 70), nil},
	}
	for _, tc := range bad {
		_, err := ParseMultipartType(ctx, strings.NewReader(""), tc.ct, -1)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.ct, err, tc.want)
		}
	}
	h := textproto.MIMEHeader{"Content-Type": {"multipart/mixed; boundary=q"}, "Content-Length": {"14"}}
	m, err = ParseMultipart(ctx, strings.NewReader("--q\r\n\r\n\r\n--q--EXTRA"), h)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collectNext(m); err != nil || len(got) != 1 {
		t.Fatalf("Content-Length not honoured: %+v %v", got, err)
	}
	if _, err := ParseMultipartBoundary(ctx, []byte("b"), strings.NewReader(""), -1); !errors.Is(err, ErrMultipartBoundary) {
		t.Fatalf("boundary without dashes: %v", err)
	}
}

// bodyWithParts returns a body of n parts with one header and the given content.
func bodyWithParts(n int, content string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("--b\r\nA: 1\r\n\r\n" + content + "\r\n")
	}
	b.WriteString("--b--\r\n")
	return b.String()
}

func TestMultipartLimits(t *testing.T) {
	l := DefaultMultipartLimits
	headerOf := func(total int) string { // a header block of exactly total bytes
		return "X: " + strings.Repeat("v", total-7) + "\r\n\r\n"
	}
	fields := func(n int) string { return strings.Repeat("A: 1\r\n", n) + "\r\n" }
	tests := []struct {
		name   string
		body   string
		limits *MultipartLimits
		want   error
	}{
		{"preamble at limit", strings.Repeat("p", l.PreambleBytes) + "\r\n--b--", nil, nil},
		{"preamble one over", strings.Repeat("p", l.PreambleBytes+1) + "\r\n--b--", nil, ErrMultipartPreambleTooLarge},
		{"preamble one over, no boundary ever", strings.Repeat("p", 100000), nil, ErrMultipartPreambleTooLarge},
		{"small preamble limit at", "pp\r\n--b--", &MultipartLimits{PreambleBytes: 2}, nil},
		{"small preamble limit over", "ppp\r\n--b--", &MultipartLimits{PreambleBytes: 2}, ErrMultipartPreambleTooLarge},
		{"large preamble limit at, long padding", strings.Repeat("p", 100000) + "\r\n--b" + strings.Repeat(" ", MaxMultipartPadding) + "\r\n\r\nx\r\n--b--", &MultipartLimits{PreambleBytes: 100000}, nil},
		{"large preamble limit one over", strings.Repeat("p", 100001) + "\r\n--b\r\n\r\nx\r\n--b--", &MultipartLimits{PreambleBytes: 100000}, ErrMultipartPreambleTooLarge},
		{"epilogue at limit", "--b--\r\n" + strings.Repeat("e", l.EpilogueBytes), nil, nil},
		{"epilogue one over", "--b--\r\n" + strings.Repeat("e", l.EpilogueBytes+1), nil, ErrMultipartEpilogueTooLarge},
		{"header bytes at limit", "--b\r\n" + headerOf(l.HeaderBytes) + "x\r\n--b--", nil, nil},
		{"header bytes one over", "--b\r\n" + headerOf(l.HeaderBytes+1) + "x\r\n--b--", nil, ErrMultipartHeaderTooLarge},
		{"header fields at limit", "--b\r\n" + fields(l.HeaderFields) + "x\r\n--b--", nil, nil},
		{"header fields one over", "--b\r\n" + fields(l.HeaderFields+1) + "x\r\n--b--", nil, ErrMultipartTooManyHeaders},
		{"parts at limit", bodyWithParts(l.Parts, "x"), nil, nil},
		{"parts one over", bodyWithParts(l.Parts+1, "x"), nil, ErrMultipartTooManyParts},
		{"part bytes at limit", bodyWithParts(2, strings.Repeat("z", 1000)), &MultipartLimits{PartBytes: 1000}, nil},
		{"part bytes one over", bodyWithParts(2, strings.Repeat("z", 1001)), &MultipartLimits{PartBytes: 1000}, ErrMultipartPartTooLarge},
		{"part bytes unlimited", bodyWithParts(1, strings.Repeat("z", 100000)), &MultipartLimits{PartBytes: -1}, nil},
		{"padding at limit", "--b" + strings.Repeat(" ", MaxMultipartPadding) + "\r\n\r\nx\r\n--b--" + strings.Repeat("\t", MaxMultipartPadding) + "\r\n", nil, nil},
		{"padding one over", "--b" + strings.Repeat(" ", MaxMultipartPadding+1) + "\r\n\r\nx\r\n--b--", nil, ErrMultipartPaddingTooLong},
		{"close padding one over", "--b\r\n\r\nx\r\n--b--" + strings.Repeat("\t", MaxMultipartPadding+1) + "\r\n", nil, ErrMultipartPaddingTooLong},
		{"default part limit", bodyWithParts(1, strings.Repeat("z", 100000)), &MultipartLimits{}, nil},
	}
	if n := len(headerOf(l.HeaderBytes)); n != l.HeaderBytes {
		t.Fatalf("test helper: %d", n)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collectNext(parseBody(t, "b", tc.body, tc.limits))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			// The same from a source of unknown length giving short reads.
			m, _ := ParseMultipartBoundary(context.Background(), []byte("--b"), iotest.HalfReader(strings.NewReader(tc.body)), -1)
			if tc.limits != nil {
				m.SetLimits(*tc.limits)
			}
			_, err = collectNext(m)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("unknown length: error %v, want %v", err, tc.want)
			}
			// Skipping part bodies (Next drains them) hits the same limits.
			m = parseBody(t, "b", tc.body, tc.limits)
			for i := 0; i < 2000; i++ {
				if _, err = m.Next(); err != nil {
					break
				}
			}
			if err == io.EOF {
				err = nil
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("draining: error %v, want %v", err, tc.want)
			}
		})
	}
	m := parseBody(t, "b", "--b--", nil)
	m.Next()
	if err := m.SetLimits(MultipartLimits{}); !errors.Is(err, ErrMultipartStarted) {
		t.Fatalf("SetLimits after start: %v", err)
	}
}

func TestMultipartAll(t *testing.T) {
	body := "pre\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepi"
	var kinds []string
	for ev, err := range parseBody(t, "b", body, nil).All() {
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprintf("%T", ev))
	}
	if strings.Join(kinds, ",") != "body.Preamble,body.Part,body.Part,body.Epilogue" {
		t.Fatalf("got %v", kinds)
	}
	// Stopping early.
	n := 0
	for range parseBody(t, "b", body, nil).All() {
		n++
		break
	}
	if n != 1 {
		t.Fatal(n)
	}
	// An error is yielded once, last.
	var last error
	count := 0
	for _, err := range parseBody(t, "b", "--b\r\n\r\nunterminated", nil).All() {
		last = err
		count++
	}
	if !errors.Is(last, io.ErrUnexpectedEOF) || count != 2 {
		t.Fatalf("%d events, last error %v", count, last)
	}
}

func TestMultipartEventsChannel(t *testing.T) {
	body := "pre\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\nepi"
	m := parseBody(t, "b", body, nil)
	var got []string
	for ev := range m.Events() {
		switch e := ev.(type) {
		case Preamble:
			got = append(got, "pre:"+string(e.Data))
		case Part:
			switch len(got) {
			case 1: // read to EOF
				b, _ := io.ReadAll(e.Body)
				got = append(got, "part:"+string(b))
			case 2: // Close skips it
				e.Body.(io.Closer).Close()
				got = append(got, "closed")
			default: // read a little, then Close
				b := make([]byte, 2)
				io.ReadFull(e.Body, b)
				e.Body.(io.Closer).Close()
				got = append(got, "part:"+string(b))
			}
		case Epilogue:
			got = append(got, "epi:"+string(e.Data))
		}
	}
	if m.Err() != nil {
		t.Fatal(m.Err())
	}
	if want := "pre:pre|part:one|closed|part:th|epi:epi"; strings.Join(got, "|") != want {
		t.Fatalf("got %v", got)
	}
	if m.Events() != m.Events() {
		t.Fatal("Events must return the same channel")
	}

	// An error ends the channel and is reported by Err.
	m = parseBody(t, "b", "--b\r\nbad\r\n\r\n", nil)
	for range m.Events() {
	}
	if !errors.Is(m.Err(), ErrMultipartMalformed) {
		t.Fatalf("Err: %v", m.Err())
	}
}

func TestMultipartEventsCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	defer pw.Close()
	m, _ := ParseMultipartBoundary(ctx, []byte("--b"), pr, -1)
	ch := m.Events()
	go pw.Write([]byte("--b\r\n\r\npart body"))
	ev := <-ch
	if _, ok := ev.(Part); !ok {
		t.Fatalf("got %T", ev)
	}
	// The consumer walks away without reading the body: cancelling ctx frees the producer.
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("producer did not stop on cancel")
	}
	if !errors.Is(m.Err(), context.Canceled) {
		t.Fatalf("Err: %v", m.Err())
	}
	// Reads after cancel fail with the context's error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	m2, _ := ParseMultipartBoundary(ctx2, []byte("--b"), strings.NewReader("--b--"), -1)
	if _, err := m2.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on cancelled ctx: %v", err)
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before+1; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// mimeParts parses with mime/multipart's NextRawPart (no quoted-printable decoding).
func mimeParts(boundary string, body []byte) ([]mpEvent, error) {
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []mpEvent
	for i := 0; i < 10000; i++ {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, mpEvent{kind: "part", header: p.Header, data: string(b)})
	}
	return out, errors.New("too many parts")
}

var multipartCorpus = []string{
	"--b\r\nA: 1\r\n\r\nhello\r\n--b--\r\n",
	"preamble\r\n--b\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\ncontent\r\n--b--\r\nepilogue",
	"--b \r\n\r\nx\r\n--b--",
	"--b\r\n\r\n--bx\r\n--b-\r\n--b--",
	"--b\r\n\r\n\r\n\r\n--b--\r\n",
	"--b\r\n\r\n\r--b\r\n--b--\r\n",
	"--b\nA: 1\n\nlf only\n--b--\n",
	"--b\r\nA: 1\r\n 2\r\n\r\nfolded\r\n--b--\r\n",
	"--b\r\nA : 1\r\n\r\nx\r\n--b--\r\n",
	"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n--b--\r\n",
	"--b\r\n\r\nno end",
	"--b\r\n\r\n--b--",
	"--b\r\nA: 1\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
	"--b\r\n\r\n--b \r\n\r\n--b--",
	"--b--",
	"",
}

// checkMultipartAgainstStd parses body with both parsers; when both succeed, the parts
// (headers and bodies) must be equal.
func checkMultipartAgainstStd(t *testing.T, body []byte) {
	m, err := ParseMultipartBoundary(context.Background(), []byte("--b"), bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	m.SetLimits(MultipartLimits{Parts: 10000})
	ours, oursErr := collectNext(m)
	std, stdErr := mimeParts("b", body)
	if oursErr != nil || stdErr != nil || lfBoundary(body) {
		return
	}
	var parts []mpEvent
	for _, e := range ours {
		if e.kind == "part" {
			parts = append(parts, e)
		}
	}
	if !equalEvents(parts, std) {
		t.Fatalf("%q:\nours %+v\nmime %+v", body, parts, std)
	}
}

// lfBoundary reports whether body has a boundary line ended or started by a bare LF,
// which mime/multipart takes as a delimiter (its LF-only mode) and we do not.
func lfBoundary(body []byte) bool {
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte("--b"))
		if j < 0 {
			return false
		}
		j += i
		if j > 0 && body[j-1] == '\n' && (j < 2 || body[j-2] != '\r') {
			return true
		}
		k := j + 3
		for k < len(body) && (body[k] == ' ' || body[k] == '\t' || body[k] == '-') {
			k++
		}
		if k < len(body) && body[k] == '\n' {
			return true
		}
		i = j + 1
	}
}

func TestMultipartAgainstMime(t *testing.T) {
	for _, body := range multipartCorpus {
		checkMultipartAgainstStd(t, []byte(body))
	}
	// A larger generated body with many parts of varied sizes.
	var b strings.Builder
	b.WriteString("intro\r\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\n%s\r\n", i, strings.Repeat("\r\n-b", i*37%500))
	}
	b.WriteString("--b--\r\n")
	body := b.String()
	ours, err := collectNext(parseBody(t, "b", body, nil))
	if err != nil || len(ours) != 201 {
		t.Fatalf("%d events, %v", len(ours), err)
	}
	std, err := mimeParts("b", []byte(body))
	if err != nil || !equalEvents(ours[1:], std) {
		t.Fatalf("differs from mime/multipart (%v)", err)
	}
}

func FuzzMultipart(f *testing.F) {
	for _, body := range multipartCorpus {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkMultipartAgainstStd(t, body)
		// One byte at a time from an unknown-length source: same events or same failure.
		m, _ := ParseMultipartBoundary(context.Background(), []byte("--b"), bytes.NewReader(body), int64(len(body)))
		a, errA := collectNext(m)
		m, _ = ParseMultipartBoundary(context.Background(), []byte("--b"), iotest.OneByteReader(bytes.NewReader(body)), -1)
		b, errB := collectNext(m)
		if (errA == nil) != (errB == nil) || errA == nil && !equalEvents(a, b) {
			t.Fatalf("%q: whole %+v %v, bytewise %+v %v", body, a, errA, b, errB)
		}
	})
}

func TestMultipartWriterRoundTrip(t *testing.T) {
	// Bodies written by mime/multipart.Writer (its 60-character random boundary), with
	// binary contents full of CR, LF and dashes, parse to the same parts as with its reader.
	rnd := uint32(1)
	next := func() uint32 { rnd ^= rnd << 13; rnd ^= rnd >> 17; rnd ^= rnd << 5; return rnd }
	alphabet := []byte("\r\n-ab")
	for round := 0; round < 20; round++ {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		var want []mpEvent
		for i := 0; i < int(next()%6); i++ {
			data := make([]byte, next()%3000)
			for j := range data {
				data[j] = alphabet[next()%uint32(len(alphabet))]
			}
			h := textproto.MIMEHeader{"Content-Type": {"application/octet-stream"}, "X-Index": {fmt.Sprint(i)}}
			pw, err := w.CreatePart(h)
			if err != nil {
				t.Fatal(err)
			}
			pw.Write(data)
			want = append(want, mpEvent{kind: "part", header: h, data: string(data)})
		}
		w.Close()
		m, err := ParseMultipartType(context.Background(), bytes.NewReader(buf.Bytes()), w.FormDataContentType(), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := collectNext(m)
		if err != nil {
			t.Fatal(err)
		}
		if !equalEvents(got, want) {
			t.Fatalf("round %d: %d events, want %d", round, len(got), len(want))
		}
		std, err := mimeParts(w.Boundary(), buf.Bytes())
		if err != nil || !equalEvents(std, want) {
			t.Fatalf("round %d: mime/multipart disagrees: %v", round, err)
		}
	}
}

func TestMultipartPartBodyIOTest(t *testing.T) {
	content := strings.Repeat("ab\r\n--c\r\n-", 5000)
	m := parseBody(t, "b", bodyWithParts(1, content), nil)
	ev, err := m.Next()
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(ev.(Part).Body, []byte(content)); err != nil {
		t.Fatal(err)
	}
}

// A consumer of Events may skip a part by not touching its Body: receiving
// the next event drops the rest of it. A part read slowly arrives whole,
// and one closed early is skipped however long it is.
func TestMultipartEventsSkip(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 300<<10/16) // 300 KiB, past the parser's buffer
	huge := strings.Repeat("x", 5<<20)
	body := "--b\r\nName: skipped\r\n\r\n" + big +
		"\r\n--b\r\nName: slow\r\n\r\n" + big +
		"\r\n--b\r\nName: closed\r\n\r\n" + huge +
		"\r\n--b\r\nName: half\r\n\r\n" + big +
		"\r\n--b\r\nName: last\r\n\r\nend\r\n--b--\r\n"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := ParseMultipartBoundary(ctx, []byte("--b"), strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev := range m.Events() {
		p, ok := ev.(Part)
		if !ok {
			t.Fatalf("unexpected %T", ev)
		}
		name := p.Header.Get("Name")
		switch name {
		case "skipped": // not touched at all
			got = append(got, name)
		case "slow":
			var b bytes.Buffer
			buf := make([]byte, 7<<10)
			for {
				n, err := p.Body.Read(buf)
				b.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Microsecond)
			}
			if b.String() != big {
				t.Fatalf("slow part: %d bytes, not the %d sent", b.Len(), len(big))
			}
			got = append(got, name)
		case "closed":
			if err := p.Body.(io.Closer).Close(); err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
		case "half": // read some, then move on
			io.CopyN(io.Discard, p.Body, 1000)
			got = append(got, name)
		case "last":
			b, _ := io.ReadAll(p.Body)
			got = append(got, name+":"+string(b))
		}
	}
	if ctx.Err() != nil || m.Err() != nil {
		t.Fatalf("events ended with %v (ctx %v) after %v", m.Err(), ctx.Err(), got)
	}
	if want := "skipped|slow|closed|half|last:end"; strings.Join(got, "|") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}
