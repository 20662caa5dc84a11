package frame

import (
	"bytes"
	"strconv"
	"testing"
	"unicode/utf8"
)

// benchHeaders are one header of each size the parser's fast path knows.
var benchHeaders = []struct {
	size int
	h    Header
}{
	{2, Header{Fin: true, Opcode: OpBinary, Length: 100}},
	{4, Header{Fin: true, Opcode: OpBinary, Length: 1000}},
	{6, Header{Fin: true, Opcode: OpBinary, Length: 100, Masked: true, Key: [4]byte{1, 2, 3, 4}}},
	{8, Header{Fin: true, Opcode: OpBinary, Length: 1000, Masked: true, Key: [4]byte{1, 2, 3, 4}}},
	{10, Header{Fin: true, Opcode: OpBinary, Length: 1 << 20}},
	{14, Header{Fin: true, Opcode: OpBinary, Length: 1 << 20, Masked: true, Key: [4]byte{1, 2, 3, 4}}},
}

var sinkN int

func BenchmarkParseHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		// The header followed by payload, as a read brings it.
		buf := append(AppendHeader(nil, bh.h), make([]byte, 64)...)
		b.Run(strconv.Itoa(bh.size)+"B", func(b *testing.B) {
			p := Parser{MaxFrameSize: 1 << 30}
			for b.Loop() {
				n, _, _ := p.Parse(buf)
				sinkN += n
			}
		})
	}
}

// BenchmarkParseHeaderBytewise feeds a 14-byte header one byte per call:
// the state machine's worst case.
func BenchmarkParseHeaderBytewise(b *testing.B) {
	buf := AppendHeader(nil, benchHeaders[5].h)
	var p Parser
	for b.Loop() {
		for i := range buf {
			n, _, _ := p.Parse(buf[i : i+1])
			sinkN += n
		}
	}
}

func BenchmarkPutHeader(b *testing.B) {
	dst := make([]byte, MaxHeaderSize)
	for _, bh := range benchHeaders {
		b.Run(strconv.Itoa(bh.size)+"B", func(b *testing.B) {
			for b.Loop() {
				sinkN += PutHeader(dst, bh.h)
			}
		})
	}
}

var sinkOK bool

func BenchmarkUTF8(b *testing.B) {
	texts := []struct {
		name string
		b    []byte
	}{
		{"ascii-64", bytes.Repeat([]byte("a"), 64)},
		{"ascii-4K", bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 4096/45)},
		{"mixed-4K", mixedText(4096)},
		{"cjk-4K", bytes.Repeat([]byte("日本語のテキストです。"), 4096/33)},
		{"ascii-64K", bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 65536/45)},
	}
	for _, tx := range texts {
		b.Run(tx.name+"/frame.UTF8", func(b *testing.B) {
			b.SetBytes(int64(len(tx.b)))
			var v UTF8
			for b.Loop() {
				v.Reset()
				_, ok := v.Feed(tx.b)
				sinkOK = ok
			}
		})
		b.Run(tx.name+"/utf8.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(tx.b)))
			for b.Loop() {
				sinkOK = utf8.Valid(tx.b)
			}
		})
	}
}
