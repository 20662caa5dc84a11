package body

import (
	"bytes"
	"io"
	"net/http/httputil"
	"testing"
)

// chunkedBody is n chunks of size bytes each.
func chunkedBody(n, size int) []byte {
	var b bytes.Buffer
	w := NewChunkedWriter(&b)
	p := bytes.Repeat([]byte("x"), size)
	for i := 0; i < n; i++ {
		w.Write(p)
	}
	w.Close()
	return b.Bytes()
}

// repeatReader replays body forever, so that a decoder can be read without end.
type repeatReader struct {
	body []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.body[r.off:])
	r.off = (r.off + n) % len(r.body)
	return n, nil
}

func TestDecodeChunkedReadAllocs(t *testing.T) {
	// An endless stream of 1 KiB chunks: Read allocates nothing.
	body := []byte("400\r\n" + string(bytes.Repeat([]byte("y"), 1024)) + "\r\n")
	c := DecodeChunked(&repeatReader{body: body})
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
		body := chunkedBody((1<<20)/size, size)
		buf := make([]byte, 32<<10)
		b.Run(sizeName(size)+"/rawws", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				c := DecodeChunked(bytes.NewReader(body))
				if _, err := io.CopyBuffer(io.Discard, onlyReader{c}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/httputil", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				c := httputil.NewChunkedReader(bytes.NewReader(body))
				if _, err := io.CopyBuffer(io.Discard, onlyReader{c}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// onlyReader hides WriterTo/ReaderFrom so both decoders are read the same way.
type onlyReader struct{ io.Reader }

func sizeName(n int) string {
	if n >= 1<<10 {
		return itoaBench(n>>10) + "KiB-chunks"
	}
	return itoaBench(n) + "B-chunks"
}

func itoaBench(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
