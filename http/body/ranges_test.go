package body

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		header string
		size   int64
		want   []ByteRange
		err    error
	}{
		{"bytes=0-0", 10, []ByteRange{{0, 0}}, nil},
		{"bytes=0-9", 10, []ByteRange{{0, 9}}, nil},
		{"bytes=0-100", 10, []ByteRange{{0, 9}}, nil},
		{"bytes=3-", 10, []ByteRange{{3, 9}}, nil},
		{"bytes=-3", 10, []ByteRange{{7, 9}}, nil},
		{"bytes=-30", 10, []ByteRange{{0, 9}}, nil},
		{"Bytes=1-2", 10, []ByteRange{{1, 2}}, nil},
		{"bytes = 1-2", 10, []ByteRange{{1, 2}}, nil},
		{"bytes=0-0,-1", 1000, []ByteRange{{0, 0}, {999, 999}}, nil},
		{"bytes=500-599, 0-99 ,\t300-399", 1000, []ByteRange{{500, 599}, {0, 99}, {300, 399}}, nil},
		{"bytes=,0-1,,", 10, []ByteRange{{0, 1}}, nil},
		{"bytes=5-5,20-", 10, []ByteRange{{5, 5}}, nil},
		{"bytes=99999999999999999999-", 10, nil, ErrRangeNotSatisfiable},
		{"bytes=0-99999999999999999999", 10, []ByteRange{{0, 9}}, nil},
		{"bytes=-99999999999999999999", 10, []ByteRange{{0, 9}}, nil},
		// Coalescing: overlapping, adjacent and close ranges merge and come out sorted.
		{"bytes=0-5,3-8", 1000, []ByteRange{{0, 8}}, nil},
		{"bytes=10-19,0-9", 1000, []ByteRange{{0, 19}}, nil},
		{"bytes=0-0,80-80", 1000, []ByteRange{{0, 80}}, nil},
		{"bytes=0-0,81-81", 1000, []ByteRange{{0, 0}, {81, 81}}, nil},
		{"bytes=500-500,0-0,100-100,101-101", 1000, []ByteRange{{0, 0}, {100, 101}, {500, 500}}, nil},
		// Unsatisfiable.
		{"bytes=10-", 10, nil, ErrRangeNotSatisfiable},
		{"bytes=10-20,30-", 10, nil, ErrRangeNotSatisfiable},
		{"bytes=-0", 10, nil, ErrRangeNotSatisfiable},
		{"bytes=0-", 0, nil, ErrRangeNotSatisfiable},
		{"bytes=-5", 0, nil, ErrRangeNotSatisfiable},
		// Invalid.
		{"", 10, nil, ErrRangeInvalid},
		{"bytes", 10, nil, ErrRangeInvalid},
		{"bytes=", 10, nil, ErrRangeInvalid},
		{"bytes=,", 10, nil, ErrRangeInvalid},
		{"bytes=5", 10, nil, ErrRangeInvalid},
		{"bytes=-", 10, nil, ErrRangeInvalid},
		{"bytes=5-3", 10, nil, ErrRangeInvalid},
		{"bytes=a-3", 10, nil, ErrRangeInvalid},
		{"bytes=+1-3", 10, nil, ErrRangeInvalid},
		{"bytes=1 -3", 10, nil, ErrRangeInvalid},
		{"bytes=1--3", 10, nil, ErrRangeInvalid},
		{"bytes=--3", 10, nil, ErrRangeInvalid},
		{"bytes=0-1,x", 10, nil, ErrRangeInvalid},
		{"bytes x=0-1", 10, nil, ErrRangeInvalid},
		{"items=0-1", 10, nil, ErrRangeUnit},
		// Too much overlap: the sum of satisfiable ranges exceeds the size.
		{"bytes=0-4,5-9", 10, []ByteRange{{0, 9}}, nil},
		{"bytes=0-4,4-9", 10, nil, ErrRangeOverlap},
		{"bytes=0-,0-", 10, nil, ErrRangeOverlap},
		{"bytes=-6,0-4", 10, nil, ErrRangeOverlap},
	}
	for _, tc := range tests {
		got, err := ParseRange(tc.header, tc.size)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q/%d: error %v, want %v", tc.header, tc.size, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q/%d: %v %v, want %v", tc.header, tc.size, got, err, tc.want)
		}
	}
}

func TestParseRangeCountLimit(t *testing.T) {
	header := func(n int) string {
		specs := make([]string, n)
		for i := range specs {
			specs[i] = fmt.Sprintf("%d-%d", i*1000, i*1000)
		}
		return "bytes=" + strings.Join(specs, ",")
	}
	got, err := ParseRange(header(MaxRanges), 1<<20)
	if err != nil || len(got) != MaxRanges {
		t.Fatalf("at the limit: %d ranges, %v", len(got), err)
	}
	if _, err := ParseRange(header(MaxRanges+1), 1<<20); !errors.Is(err, ErrTooManyRanges) {
		t.Fatalf("one over: %v", err)
	}
	// Empty list elements do not count.
	if _, err := ParseRange(header(MaxRanges)+strings.Repeat(",", 500), 1<<20); err != nil {
		t.Fatalf("empty elements counted: %v", err)
	}
}

func TestParseRangeOverlapLimit(t *testing.T) {
	// The ranges may add up to exactly the size, not one byte more.
	if got, err := ParseRange("bytes=0-49,50-99", 100); err != nil || !slices.Equal(got, []ByteRange{{0, 99}}) {
		t.Fatalf("at the limit: %v %v", got, err)
	}
	if _, err := ParseRange("bytes=0-49,49-99", 100); !errors.Is(err, ErrRangeOverlap) {
		t.Fatalf("one over: %v", err)
	}
	// The overlapping-ranges attack: many copies of the whole.
	if _, err := ParseRange("bytes="+strings.Repeat("0-,", 50), 1000); !errors.Is(err, ErrRangeOverlap) {
		t.Fatalf("attack: %v", err)
	}
}

func TestCoalesceRanges(t *testing.T) {
	in := []ByteRange{{50, 60}, {0, 10}}
	if got := CoalesceRanges(in, 10); !slices.Equal(got, in) {
		t.Fatalf("no merge must keep the order: %v", got)
	}
	if got := CoalesceRanges([]ByteRange{{50, 60}, {0, 10}, {5, 55}}, 0); !slices.Equal(got, []ByteRange{{0, 60}}) {
		t.Fatalf("got %v", got)
	}
	if got := CoalesceRanges([]ByteRange{{0, 10}, {11, 20}}, 0); !slices.Equal(got, []ByteRange{{0, 20}}) {
		t.Fatalf("adjacent: %v", got)
	}
}

// partsOf parses a multipart/byteranges body with mime/multipart.
func partsOf(t testing.TB, contentType string, body []byte) [][3]string {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out [][3]string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("parts: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [3]string{p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), string(b)})
	}
}

func TestWriteMultipleRanges(t *testing.T) {
	content := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	calls := 0
	producer := func(r ByteRange) (io.Reader, error) {
		calls++
		return bytes.NewReader(content[r.Start:]), nil // longer than the range: the rest is not read
	}
	ranges := []ByteRange{{0, 3}, {30, 35}, {10, 10}}
	for _, size := range []int64{int64(len(content)), -1} {
		for _, read := range []string{"all", "onebyte"} {
			calls = 0
			body, n, err := WriteMultipleRanges(producer, ranges, size, "XyZ", "text/plain")
			if err != nil {
				t.Fatal(err)
			}
			if calls != 0 {
				t.Fatal("producer called before reading")
			}
			var src io.Reader = body
			if read == "onebyte" {
				src = iotest.OneByteReader(body)
			}
			got, err := io.ReadAll(src)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(got)) != n {
				t.Fatalf("announced %d bytes, wrote %d", n, len(got))
			}
			total := "36"
			if size < 0 {
				total = "*"
			}
			want := [][3]string{
				{"text/plain", "bytes 0-3/" + total, "0123"},
				{"text/plain", "bytes 30-35/" + total, "uvwxyz"},
				{"text/plain", "bytes 10-10/" + total, "a"},
			}
			if parts := partsOf(t, "multipart/byteranges; boundary=XyZ", got); !slices.Equal(parts, want) {
				t.Fatalf("parts %q", parts)
			}
			if calls != 3 {
				t.Fatalf("producer called %d times", calls)
			}
		}
	}
	// Without a content type, parts have only Content-Range.
	body, n, _ := WriteMultipleRanges(producer, ranges[:1], -1, "b", "")
	got, _ := io.ReadAll(body)
	if want := "--b\r\nContent-Range: bytes 0-3/*\r\n\r\n0123\r\n--b--\r\n"; string(got) != want || n != int64(len(want)) {
		t.Fatalf("got %q (%d)", got, n)
	}
}

type closeCounter struct {
	io.Reader
	closed *int
}

func (c closeCounter) Close() error { *c.closed++; return nil }

func TestWriteMultipleRangesErrors(t *testing.T) {
	ok := func(r ByteRange) (io.Reader, error) { return strings.NewReader(strings.Repeat("x", int(r.Len()))), nil }
	bad := []struct {
		ranges   []ByteRange
		size     int64
		boundary string
		want     error
	}{
		{nil, 10, "b", ErrRangeInvalid},
		{[]ByteRange{{-1, 2}}, 10, "b", ErrRangeInvalid},
		{[]ByteRange{{3, 2}}, 10, "b", ErrRangeInvalid},
		{[]ByteRange{{0, 10}}, 10, "b", ErrRangeInvalid},
		{[]ByteRange{{0, 1}}, 10, "", ErrMultipartBoundary},
		{[]ByteRange{{0, 1}}, 10, "a\"b", ErrMultipartBoundary},
	}
	for _, tc := range bad {
		if _, _, err := WriteMultipleRanges(ok, tc.ranges, tc.size, tc.boundary, ""); !errors.Is(err, tc.want) {
			t.Errorf("%v/%d/%q: %v", tc.ranges, tc.size, tc.boundary, err)
		}
	}
	// A short producer fails the body; closers are closed.
	closed := 0
	short := func(r ByteRange) (io.Reader, error) {
		return closeCounter{strings.NewReader("ab"), &closed}, nil
	}
	body, _, _ := WriteMultipleRanges(short, []ByteRange{{0, 1}, {5, 9}}, 10, "b", "")
	if _, err := io.ReadAll(body); !errors.Is(err, ErrRangeShort) {
		t.Fatalf("short producer: %v", err)
	}
	if closed != 2 {
		t.Fatalf("closed %d producers, want 2", closed)
	}
	failing := func(r ByteRange) (io.Reader, error) { return nil, io.ErrClosedPipe }
	body, _, _ = WriteMultipleRanges(failing, []ByteRange{{0, 1}}, 10, "b", "")
	if _, err := io.ReadAll(body); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("failing producer: %v", err)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, h := range rangeCorpus {
		f.Add(h, int64(100))
	}
	f.Add("bytes=0-0,-1", int64(1))
	f.Add("bytes=-0", int64(0))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 || size > 1<<20 {
			size %= 1 << 20
			if size < 0 {
				size = -size
			}
		}
		ranges, err := ParseRange(header, size)
		if err == nil {
			if len(ranges) == 0 || len(ranges) > MaxRanges {
				t.Fatalf("%q/%d: %d ranges", header, size, len(ranges))
			}
			var sum int64
			for _, r := range ranges {
				if r.Start < 0 || r.End < r.Start || r.End >= size {
					t.Fatalf("%q/%d: range %v out of bounds", header, size, r)
				}
				sum += r.Len()
			}
			if sum > size {
				t.Fatalf("%q/%d: ranges add up to %d", header, size, sum)
			}
		}
		if size > 0 && size <= 4096 {
			checkServeContentAgainstStd(t, ContentRequest{Range: header}, testContent(int(size)))
		}
	})
}

func TestWriteMultipleRangesIOTest(t *testing.T) {
	content := testContent(5000)
	ranges := []ByteRange{{4000, 4999}, {0, 999}, {2000, 2000}}
	producer := func(r ByteRange) (io.Reader, error) { return bytes.NewReader(content[r.Start : r.End+1]), nil }
	body, n, err := WriteMultipleRanges(producer, ranges, int64(len(content)), "bb", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(must(WriteMultipleRanges(producer, ranges, int64(len(content)), "bb", "text/plain")))
	if int64(len(want)) != n {
		t.Fatalf("length %d, announced %d", len(want), n)
	}
	if err := iotest.TestReader(body, want); err != nil {
		t.Fatal(err)
	}
}

func must(r io.Reader, _ int64, err error) io.Reader {
	if err != nil {
		panic(err)
	}
	return r
}
