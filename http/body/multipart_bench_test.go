package body

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

func BenchmarkMultipart(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		body := []byte(bodyWithParts(8, strings.Repeat("q\r\n-", size/4)))
		buf := make([]byte, 32<<10)
		b.Run(sizeName(size)+"/rawws", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				m, _ := ParseMultipartBoundary(context.Background(), []byte("--b"), bytes.NewReader(body), int64(len(body)))
				for ev, err := range m.All() {
					if err != nil {
						b.Fatal(err)
					}
					if p, ok := ev.(Part); ok {
						io.CopyBuffer(io.Discard, onlyReader{p.Body}, buf)
					}
				}
			}
		})
		b.Run(sizeName(size)+"/mime", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r := multipart.NewReader(bytes.NewReader(body), "b")
				for {
					p, err := r.NextRawPart()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					io.CopyBuffer(io.Discard, onlyReader{p}, buf)
				}
			}
		})
	}
}
