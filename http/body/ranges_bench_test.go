package body

import (
	"io"
	"testing"
)

func BenchmarkParseRange(b *testing.B) {
	for _, h := range []string{"bytes=0-499", "bytes=0-0,-1,500-599,900-999"} {
		b.Run(h, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseRange(h, 10000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteMultipleRanges(b *testing.B) {
	content := testContent(1 << 20)
	ranges := []ByteRange{{0, 99999}, {300000, 399999}, {900000, 999999}}
	producer := func(r ByteRange) (io.Reader, error) { return newByteSection(content, r), nil }
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(300000)
	for b.Loop() {
		body, _, err := WriteMultipleRanges(producer, ranges, int64(len(content)), "0123456789abcdef", "text/plain")
		if err != nil {
			b.Fatal(err)
		}
		io.CopyBuffer(io.Discard, onlyReader{body}, buf)
	}
}

type byteSection struct{ b []byte }

func newByteSection(b []byte, r ByteRange) *byteSection {
	return &byteSection{b[r.Start : r.End+1]}
}

func (s *byteSection) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
