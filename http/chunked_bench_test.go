package http

import (
	"bytes"
	"io"
	"net/http/httputil"
	"testing"
)

// bdChunkedBody is n chunks of size bytes each.
func bdChunkedBody(n, size int) []byte {
	var b bytes.Buffer
	w := NewChunkedWriter(&b)
	p := bytes.Repeat([]byte("x"), size)
	for i := 0; i < n; i++ {
		w.Write(p)
	}
	w.Close()
	return b.Bytes()
}

// bdRepeatReader replays body forever, so that a decoder can be read without end.
type bdRepeatReader struct {
	body []byte
	off  int
}

func (r *bdRepeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.body[r.off:])
	r.off = (r.off + n) % len(r.body)
	return n, nil
}

func TestDecodeChunkedReadAllocs(t *testing.T) {
	// An endless stream of 1 KiB chunks: Read allocates nothing.
	body := []byte("400\r\n" + string(bytes.Repeat([]byte("y"), 1024)) + "\r\n")
	c := DecodeChunked(&bdRepeatReader{body: body})
	buf := make([]byte, 700)
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per Read", n)
	}
}

func BenchmarkDecodeChunked(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		body := bdChunkedBody((1<<20)/size, size)
		buf := make([]byte, 32<<10)
		b.Run(bdSizeName(size)+"/rawws", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				c := DecodeChunked(bytes.NewReader(body))
				if _, err := io.CopyBuffer(io.Discard, bdOnlyReader{c}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bdSizeName(size)+"/httputil", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				c := httputil.NewChunkedReader(bytes.NewReader(body))
				if _, err := io.CopyBuffer(io.Discard, bdOnlyReader{c}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bdOnlyReader hides WriterTo/ReaderFrom so both decoders are read the same way.
type bdOnlyReader struct{ io.Reader }

func bdSizeName(n int) string {
	if n >= 1<<10 {
		return bdItoaBench(n>>10) + "KiB-chunks"
	}
	return bdItoaBench(n) + "B-chunks"
}

func bdItoaBench(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
