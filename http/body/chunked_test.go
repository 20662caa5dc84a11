package body

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeAll reads a whole chunked body, in reads of the given size (0: io.ReadAll).
func decodeAll(in []byte, chunk int) ([]byte, textproto.MIMEHeader, *ChunkedReader, error) {
	c := DecodeChunked(bytes.NewReader(in))
	var out []byte
	var err error
	if chunk == 0 {
		out, err = io.ReadAll(c)
	} else {
		buf := make([]byte, chunk)
		for i := 0; i < 1<<20; i++ {
			var n int
			n, err = c.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		if err == io.EOF {
			err = nil
		}
	}
	return out, c.Trailer(), c, err
}

func TestDecodeChunkedValid(t *testing.T) {
	tests := []struct {
		name, in, want string
		trailer        textproto.MIMEHeader
	}{
		{"empty body", "0\r\n\r\n", "", nil},
		{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", nil},
		{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", nil},
		{"lower hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", nil},
		{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", nil},
		{"seventeen digits with zeros", "00000000000000005\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello", nil},
		{"quoted extension", "5;n=\"a b;c\"\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"BWS before extension", "5 \t;x\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"trailing whitespace", "5 \r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"trailer", "5\r\nhello\r\n0\r\nExpires: never\r\nx-sum:  abc \r\nX-Sum: d\r\n\r\n", "hello",
			textproto.MIMEHeader{"Expires": {"never"}, "X-Sum": {"abc", "d"}}},
		{"empty trailer value", "0\r\nA:\r\n\r\n", "", textproto.MIMEHeader{"A": {""}}},
		{"binary data with CRLF inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", nil},
		{"bytes after the end are not read", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "x", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 3, 4096} {
				got, tr, _, err := decodeAll([]byte(tc.in), chunk)
				if err != nil {
					t.Fatalf("read size %d: %v", chunk, err)
				}
				if string(got) != tc.want {
					t.Fatalf("read size %d: got %q, want %q", chunk, got, tc.want)
				}
				if !equalHeader(tr, tc.trailer) {
					t.Fatalf("trailer %v, want %v", tr, tc.trailer)
				}
			}
			// The same through a reader that returns one byte at a time.
			got, err := io.ReadAll(DecodeChunked(iotest.OneByteReader(strings.NewReader(tc.in))))
			if err != nil || string(got) != tc.want {
				t.Fatalf("one-byte source: %q, %v", got, err)
			}
		})
	}
}

func equalHeader(a, b textproto.MIMEHeader) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

func TestDecodeChunkedInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty input", "", io.ErrUnexpectedEOF},
		{"no size", "\r\nhello\r\n0\r\n\r\n", ErrChunkSize},
		{"not hex", "g\r\nhello\r\n0\r\n\r\n", ErrChunkSize},
		{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", ErrChunkSize},
		{"leading space", " 5\r\nhello\r\n0\r\n\r\n", ErrChunkSize},
		{"sign", "+5\r\nhello\r\n0\r\n\r\n", ErrChunkSize},
		{"junk after size", "5 x\r\nhello\r\n0\r\n\r\n", ErrChunkSize},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n", ErrChunkCRLF},
		{"lone CR in size line", "5\r;x\r\nhello\r\n0\r\n\r\n", ErrChunkCRLF},
		{"bare LF after last chunk", "0\n\r\n", ErrChunkCRLF},
		{"data not followed by CRLF", "5\r\nhelloX\r\n0\r\n\r\n", ErrChunkCRLF},
		{"data followed by LF", "5\r\nhello\n0\r\n\r\n", ErrChunkCRLF},
		{"data too short", "5\r\nhell", io.ErrUnexpectedEOF},
		{"missing CRLF after data at EOF", "5\r\nhello", io.ErrUnexpectedEOF},
		{"missing last chunk", "5\r\nhello\r\n", io.ErrUnexpectedEOF},
		{"missing final CRLF", "0\r\n", io.ErrUnexpectedEOF},
		{"overflow", "8000000000000000\r\n", ErrChunkSizeOverflow},
		{"overflow long", "10000000000000000\r\n", ErrChunkSizeOverflow},
		{"control in extension", "5;a=\x00\r\nhello\r\n0\r\n\r\n", ErrChunkExtension},
		{"DEL in extension", "5;a\x7f\r\nhello\r\n0\r\n\r\n", ErrChunkExtension},
		{"trailer without colon", "0\r\nfoo\r\n\r\n", ErrChunkTrailer},
		{"trailer space before colon", "0\r\nfoo : bar\r\n\r\n", ErrChunkTrailer},
		{"trailer obs-fold", "0\r\nfoo: bar\r\n baz\r\n\r\n", ErrChunkTrailer},
		{"trailer control in value", "0\r\nfoo: b\x01r\r\n\r\n", ErrChunkTrailer},
		{"trailer bare LF", "0\r\nfoo: bar\n\r\n", ErrChunkCRLF},
		{"trailer unterminated", "0\r\nfoo: bar\r\n", io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1} {
				_, _, _, err := decodeAll([]byte(tc.in), chunk)
				if !errors.Is(err, tc.want) {
					t.Fatalf("read size %d: error %v, want %v", chunk, err, tc.want)
				}
			}
		})
	}
}

func TestDecodeChunkedMaxSize(t *testing.T) {
	// The largest int64 is a valid size; the body then ends early, not with an overflow.
	_, _, _, err := decodeAll([]byte("7fffffffffffffff\r\nabc"), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrChunkSizeOverflow) {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeChunkedLimits(t *testing.T) {
	line := func(total int) string { // a size line of exactly total bytes, CRLF included
		return "1;" + strings.Repeat("x", total-4) + "\r\n"
	}
	field := func(i int) string { return "F" + strings.Repeat("0", 3) + string(rune('a'+i%26)) + ": v\r\n" }
	trailerOf := func(total int) string { // a trailer section of exactly total bytes
		one := "X: " + strings.Repeat("v", total-2-5) + "\r\n"
		return one + "\r\n"
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"size line at limit", line(MaxChunkLineBytes) + "a\r\n0\r\n\r\n", nil},
		{"size line one over", line(MaxChunkLineBytes+1) + "a\r\n0\r\n\r\n", ErrChunkLineTooLong},
		{"trailer bytes at limit", "0\r\n" + trailerOf(MaxChunkTrailerBytes), nil},
		{"trailer bytes one over", "0\r\n" + trailerOf(MaxChunkTrailerBytes+1), ErrChunkTrailerTooLarge},
		{"trailer fields at limit", "0\r\n" + strings.Repeat(field(0), MaxChunkTrailerFields) + "\r\n", nil},
		{"trailer fields one over", "0\r\n" + strings.Repeat(field(0), MaxChunkTrailerFields+1) + "\r\n", ErrChunkTrailerTooLarge},
	}
	if n := len(line(MaxChunkLineBytes)); n != MaxChunkLineBytes {
		t.Fatalf("test helper: line of %d bytes", n)
	}
	if n := len(trailerOf(MaxChunkTrailerBytes)); n != MaxChunkTrailerBytes {
		t.Fatalf("test helper: trailer of %d bytes", n)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{0, 7} {
				_, _, _, err := decodeAll([]byte(tc.in), chunk)
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("read size %d: error %v, want %v", chunk, err, tc.want)
				}
			}
			// A small caller-provided bufio.Reader must give the same result.
			c := DecodeChunked(bufio.NewReaderSize(strings.NewReader(tc.in), 16))
			_, err := io.ReadAll(c)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("small bufio: error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeChunkedBufioLeavesRest(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("3\r\nabc\r\n0\r\nT: 1\r\n\r\nNEXT"))
	c := DecodeChunked(br)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "abc" {
		t.Fatalf("got %q, %v", got, err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "NEXT" {
		t.Fatalf("rest %q, want NEXT", rest)
	}
	if c.Trailer().Get("T") != "1" {
		t.Fatalf("trailer %v", c.Trailer())
	}
}

func TestChunkedReaderTrailerOnlyAfterEOF(t *testing.T) {
	c := DecodeChunked(strings.NewReader("1\r\nx\r\n0\r\nA: b\r\n\r\n"))
	if c.Trailer() != nil {
		t.Fatal("trailer before EOF")
	}
	buf := make([]byte, 1)
	if n, err := c.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	if c.Trailer() != nil {
		t.Fatal("trailer before EOF")
	}
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
	if c.Trailer().Get("A") != "b" {
		t.Fatalf("trailer %v", c.Trailer())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, ErrChunkReaderClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if c.Trailer().Get("A") != "b" {
		t.Fatal("trailer lost on Close")
	}
}

func TestChunkedWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewChunkedWriter(&buf)
	for _, s := range []string{"hello", "", " world", strings.Repeat("z", 300)} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	w.(*ChunkedWriter).Trailer = textproto.MIMEHeader{"Checksum": {"abc"}}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "5\r\nhello\r\n6\r\n world\r\n12c\r\n" + strings.Repeat("z", 300) + "\r\n0\r\nChecksum: abc\r\n\r\n"
	if buf.String() != want {
		t.Fatalf("got %q", buf.String())
	}
	got, tr, _, err := decodeAll(buf.Bytes(), 0)
	if err != nil || string(got) != "hello world"+strings.Repeat("z", 300) || tr.Get("Checksum") != "abc" {
		t.Fatalf("round trip: %q %v %v", got, tr, err)
	}
	// httputil reads the same data (it leaves the trailer alone).
	std, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(buf.Bytes())))
	if err != nil || !bytes.Equal(std, got) {
		t.Fatalf("httputil: %q %v", std, err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrChunkWriterClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrChunkWriterClosed) {
		t.Fatalf("close twice: %v", err)
	}
	for _, bad := range []textproto.MIMEHeader{{"A B": {"x"}}, {"A": {"x\r\ny: z"}}, {"": {"x"}}} {
		w := NewChunkedWriter(io.Discard).(*ChunkedWriter)
		w.Trailer = bad
		if err := w.Close(); !errors.Is(err, ErrChunkTrailer) {
			t.Fatalf("trailer %q: %v", bad, err)
		}
	}
}

func TestChunkedWriterAllocs(t *testing.T) {
	w := NewChunkedWriter(io.Discard)
	p := make([]byte, 1000)
	if n := testing.AllocsPerRun(100, func() { w.Write(p) }); n != 0 {
		t.Fatalf("%v allocations per Write", n)
	}
}

// chunkedCorpus are inputs for the differential test and the fuzz seed corpus.
var chunkedCorpus = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n",
	"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	"5;ext\r\nhello\r\n0\r\n\r\n",
	"5 ;ext\r\nhello\r\n0\r\n\r\n",
	"5\t\r\nhello\r\n0\r\n\r\n",
	"0005\r\nhello\r\n0\r\n\r\n",
	"00000000000000005\r\nhello\r\n0\r\n\r\n",
	"5\nhello\r\n0\r\n\r\n",
	"5\r\nhello\n0\r\n\r\n",
	"5\r\nhelloXX0\r\n\r\n",
	"5\r\nhel",
	"x\r\n",
	"-1\r\n",
	"8000000000000000\r\n",
	"ffffffffffffffff\r\n",
	"5\r;\r\nhello\r\n0\r\n\r\n",
	"0\r\nA: b\r\n\r\n",
	"0\r\nbad trailer\r\n\r\n",
	"0\r\n",
	"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n",
	"3;a=\"b\"\r\nabc\r\n0\r\n\r\n",
	"3;a=\x01\r\nabc\r\n0\r\n\r\n",
	"",
}

// checkChunkedAgainstStd decodes in with both decoders and fails on any difference that
// is not one of the deliberate ones listed in bodies_doc.go.
func checkChunkedAgainstStd(t *testing.T, in []byte) {
	c := DecodeChunked(bytes.NewReader(in))
	ours, oursErr := io.ReadAll(c)
	std, stdErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
	switch {
	case oursErr == nil && stdErr == nil:
		if !bytes.Equal(ours, std) {
			t.Fatalf("%q: ours %q, httputil %q", in, ours, std)
		}
	case oursErr == nil:
		msg := stdErr.Error()
		switch {
		case strings.Contains(msg, "too much non-data"), strings.Contains(msg, "chunk length too large"):
		case strings.Contains(msg, "invalid byte in chunk length") && (bytes.Contains(in, []byte(" ;")) || bytes.Contains(in, []byte("\t;"))):
		default:
			t.Fatalf("%q: ours accepted %q, httputil: %v", in, ours, stdErr)
		}
	case stdErr == nil:
		// httputil stops at the last chunk; we also read the trailer section.
		if c.state == chunkTrailer && bytes.Equal(ours, std) {
			return
		}
		if errors.Is(oursErr, ErrChunkExtension) {
			return
		}
		t.Fatalf("%q: ours failed (%v), httputil accepted %q", in, oursErr, std)
	}
}

func TestDecodeChunkedAgainstHTTPUtil(t *testing.T) {
	for _, in := range chunkedCorpus {
		checkChunkedAgainstStd(t, []byte(in))
	}
}

func FuzzDecodeChunked(f *testing.F) {
	for _, in := range chunkedCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkChunkedAgainstStd(t, in)
		// Reading in small pieces gives the same outcome as reading at once.
		a, _, _, errA := decodeAll(in, 0)
		b, _, _, errB := decodeAll(in, 3)
		if !bytes.Equal(a, b) || (errA == nil) != (errB == nil) {
			t.Fatalf("%q: whole %q %v, pieces %q %v", in, a, errA, b, errB)
		}
	})
}

func TestChunkedReaderIOTest(t *testing.T) {
	body := chunkedBody(50, 777)
	want := bytes.Repeat([]byte("x"), 50*777)
	if err := iotest.TestReader(DecodeChunked(bytes.NewReader(body)), want); err != nil {
		t.Fatal(err)
	}
}
