package body

import (
	"context"
	"hash/crc32"
	"io"
	"runtime"
	"testing"
)

// hugeBody generates a multipart body with one part of size bytes without holding it:
// a 64 KiB block repeated, with a near-miss delimiter ("\r\n--bX") in every block.
type hugeBody struct {
	head, tail string
	block      []byte
	total      int64 // part bytes in all
	size       int64 // part bytes still to produce
	off        int   // offset in head, then in tail
	stage      int
	crc        uint32 // of the part bytes produced
}

func newHugeBody(size int64) *hugeBody {
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = 'a' + byte(i%26)
	}
	copy(block[1000:], "\r\n--bX")
	return &hugeBody{head: "--b\r\nContent-Type: application/octet-stream\r\n\r\n", tail: "\r\n--b--\r\n", block: block, total: size, size: size}
}

func (h *hugeBody) Read(p []byte) (int, error) {
	switch h.stage {
	case 0:
		n := copy(p, h.head[h.off:])
		h.off += n
		if h.off == len(h.head) {
			h.stage, h.off = 1, 0
		}
		return n, nil
	case 1:
		if h.size == 0 {
			h.stage = 2
			return 0, nil
		}
		if int64(len(p)) > h.size {
			p = p[:h.size]
		}
		n := 0
		for n < len(p) {
			pos := int((h.total - h.size + int64(n)) % int64(len(h.block)))
			n += copy(p[n:], h.block[pos:])
		}
		h.crc = crc32.Update(h.crc, crc32.IEEETable, p[:n])
		h.size -= int64(n)
		return n, nil
	default:
		if h.off == len(h.tail) {
			return 0, io.EOF
		}
		n := copy(p, h.tail[h.off:])
		h.off += n
		return n, nil
	}
}

// crcWriter hashes what it is given.
type crcWriter struct {
	crc uint32
	n   int64
}

func (w *crcWriter) Write(p []byte) (int, error) {
	w.crc = crc32.Update(w.crc, crc32.IEEETable, p)
	w.n += int64(len(p))
	return len(p), nil
}

func TestMultipartHugePartConstantMemory(t *testing.T) {
	gen := newHugeBody(bigPartBytes)

	m, err := ParseMultipartBoundary(context.Background(), []byte("--b"), gen, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetLimits(MultipartLimits{PartBytes: -1}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	ev, err := m.Next()
	if err != nil {
		t.Fatal(err)
	}
	part := ev.(Part)
	w := &crcWriter{}
	buf := make([]byte, 32<<10)
	if _, err := io.CopyBuffer(w, part.Body, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Next(); err != io.EOF {
		t.Fatalf("after the part: %v", err)
	}
	runtime.ReadMemStats(&after)

	if w.n != bigPartBytes || w.crc != gen.crc {
		t.Fatalf("got %d bytes crc %08x, want %d crc %08x", w.n, w.crc, int64(bigPartBytes), gen.crc)
	}
	// The parser's buffer (64 KiB), the copy buffer and small values: nothing that grows
	// with the part.
	const budget = 4 << 20
	if d := after.TotalAlloc - before.TotalAlloc; d > budget {
		t.Errorf("allocated %d bytes while streaming %d", d, int64(bigPartBytes))
	}
	if after.HeapInuse > before.HeapInuse && after.HeapInuse-before.HeapInuse > budget {
		t.Errorf("heap in use grew by %d bytes", after.HeapInuse-before.HeapInuse)
	}
	t.Logf("streamed %d MiB, allocated %d bytes", w.n>>20, after.TotalAlloc-before.TotalAlloc)
}

func TestMultipartBodyReadAllocs(t *testing.T) {
	gen := newHugeBody(1 << 30)
	m, _ := ParseMultipartBoundary(context.Background(), []byte("--b"), gen, -1)
	m.SetLimits(MultipartLimits{PartBytes: -1})
	ev, err := m.Next()
	if err != nil {
		t.Fatal(err)
	}
	body := ev.(Part).Body
	buf := make([]byte, 4096)
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := body.Read(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per part body Read", n)
	}
}
