package mask

import (
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/rawws/rawws"

	// Imported for the functions linked below.
	_ "github.com/coder/websocket"
	_ "github.com/gorilla/websocket"
	_ "github.com/lesismal/nbio/nbhttp/websocket"
	_ "github.com/lxzan/gws"
)

var _ unsafe.Pointer // //go:linkname needs package unsafe imported.

//go:linkname gorillaMaskBytes github.com/gorilla/websocket.maskBytes
func gorillaMaskBytes(key [4]byte, pos int, b []byte) int

//go:linkname gwsMaskXOR github.com/lxzan/gws/internal.MaskXOR
func gwsMaskXOR(b []byte, key []byte)

//go:linkname nbioMaskXOR github.com/lesismal/nbio/nbhttp/websocket.maskXOR
func nbioMaskXOR(b, key []byte)

//go:linkname coderMask github.com/coder/websocket.mask
func coderMask(b []byte, key uint32) uint32

var key = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// libs are called the way each library calls its own routine on a frame.
var libs = []struct {
	name string
	fn   func(b []byte)
}{
	{"rawws", func(b []byte) { rawws.Mask(key, 0, b) }},
	{"gorilla", func(b []byte) { gorillaMaskBytes(key, 0, b) }},
	{"gobwas", func(b []byte) { ws.Cipher(b, key, 0) }},
	{"gws", func(b []byte) { gwsMaskXOR(b, key[:]) }},
	{"nbio", func(b []byte) { nbioMaskXOR(b, key[:]) }},
	{"coder", func(b []byte) { coderMask(b, binary.LittleEndian.Uint32(key[:])) }},
}

// copySrc feeds the copy() baseline: copying as many bytes as are masked is
// what any in-memory pass over the payload costs.
var copySrc = make([]byte, 1<<20+64)

var sizes = []int{8, 64, 125, 512, 4096, 65536, 1 << 20}

// alignedBuf returns n bytes starting on a 64-byte boundary.
func alignedBuf(n int) []byte {
	raw := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & 63)
	return raw[off : off+n : off+n]
}

// TestSameResult keeps the comparison honest: every library masks alike.
func TestSameResult(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 63, 125, 1000} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i) ^ key[i&3]
		}
		for _, l := range libs {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i)
			}
			l.fn(b)
			if string(b) != string(want) {
				t.Errorf("%s, %d bytes: result differs from RFC 6455 masking", l.name, n)
			}
		}
	}
}

// BenchmarkMask names results lib=X/size=N/off=O, so benchstat can put the
// libraries side by side: benchstat -col /lib.
func BenchmarkMask(b *testing.B) {
	for _, n := range sizes {
		for _, off := range []int{0, 1} {
			for _, l := range libs {
				b.Run(fmt.Sprintf("size=%d/off=%d/lib=%s", n, off, l.name), func(b *testing.B) {
					buf := alignedBuf(n + 64)[off : off+n]
					b.SetBytes(int64(n))
					for b.Loop() {
						l.fn(buf)
					}
				})
			}
			b.Run(fmt.Sprintf("size=%d/off=%d/lib=copy", n, off), func(b *testing.B) {
				buf := alignedBuf(n + 64)[off : off+n]
				src := copySrc[off : off+n]
				b.SetBytes(int64(n))
				for b.Loop() {
					copy(buf, src)
				}
			})
		}
	}
}
