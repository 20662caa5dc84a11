package rawws

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// maskRef is the definition from RFC 6455, section 5.3, one byte at a time.
func maskRef(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

// maskWith runs one routine the way Mask runs the chosen one.
func maskWith(m maskImpl, key [4]byte, pos int, b []byte) int {
	return m.mask(key, pos, b)
}

// supportedMasks lists the routines this CPU can run; every test runs each.
func supportedMasks(t testing.TB) []maskImpl {
	// Mask itself first: what callers run, through the package's dispatch.
	ms := []maskImpl{{name: "Mask", supported: true, mask: Mask}}
	for _, m := range maskImpls {
		if m.supported {
			ms = append(ms, m)
		} else {
			t.Logf("%s: not supported by this CPU, not tested", m.name)
		}
	}
	return ms
}

// alignedBuf returns n bytes starting on a 64-byte boundary, so offsets into
// it give known misalignments.
func alignedBuf(n int) []byte {
	raw := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & 63)
	return raw[off : off+n : off+n]
}

func TestMaskImplChoice(t *testing.T) {
	want := "generic"
	switch {
	case maskPurego:
	case runtime.GOARCH == "arm64":
		// NEON must really be what runs on arm64 (CI runs this under qemu).
		want = "neon"
	case runtime.GOARCH == "amd64":
		switch {
		case cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW):
			want = "avx512"
		case cpuid.CPU.Supports(cpuid.AVX2):
			want = "avx2"
		default:
			want = "sse2"
		}
	}
	if got := MaskImpl(); got != want {
		t.Fatalf("MaskImpl() = %q, want %q", got, want)
	}
	if maskImpls[len(maskImpls)-1].name != "generic" || !maskImpls[len(maskImpls)-1].supported {
		t.Fatal("the generic routine must be last and always supported")
	}
}

// TestMaskExhaustive checks every routine against maskRef for every length up
// to 1100, every key position and every start misalignment within a cache
// line, and that no byte next to the slice changes.
func TestMaskExhaustive(t *testing.T) {
	const (
		maxLen = 1100
		guard  = 64
		start0 = 64 // first start offset in buf: room for the front guard
	)
	for _, m := range supportedMasks(t) {
		t.Run(m.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(m.name))))
			size := start0 + 64 + maxLen + guard
			src := make([]byte, size)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			buf := alignedBuf(size)
			copy(buf, src)
			ref := make([]byte, maxLen)
			// The Go routine has no alignment branches, so eight start
			// offsets cover it; the race detector makes its loads and
			// stores slow. The full run is fast even under qemu.
			misalign := 64
			if m.name == "generic" {
				misalign = 8
			}
			for pos := range 4 {
				for off := range misalign {
					var key [4]byte
					binary.LittleEndian.PutUint32(key[:], rng.Uint32())
					start := start0 + off
					copy(ref, src[start:start+maxLen])
					maskRef(key, pos, ref)
					for n := 0; n <= maxLen; n++ {
						b := buf[start : start+n]
						if got, want := maskWith(m, key, pos, b), (pos+n)&3; got != want {
							t.Fatalf("len %d pos %d: returned %d, want %d", n, pos, got, want)
						}
						if !bytes.Equal(b, ref[:n]) {
							t.Fatalf("len %d pos %d misalign %d key %x: wrong bytes\n got %x\nwant %x",
								n, pos, off, key, b, ref[:n])
						}
						if !bytes.Equal(buf[:start], src[:start]) || !bytes.Equal(buf[start+n:], src[start+n:]) {
							t.Fatalf("len %d pos %d misalign %d: bytes outside the slice changed", n, pos, off)
						}
						copy(b, src[start:start+n])
					}
				}
			}
		})
	}
}

// TestMaskLarge runs the long main loops many times over, beyond the
// lengths TestMaskExhaustive reaches.
func TestMaskLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	src := make([]byte, 70000+64)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	buf := alignedBuf(len(src))
	for _, m := range supportedMasks(t) {
		t.Run(m.name, func(t *testing.T) {
			for _, tc := range []struct{ n, off, pos int }{
				{70000, 0, 0}, {69999, 1, 1}, {65536 + 5, 33, 2}, {4096 + 7, 63, 3},
			} {
				var key [4]byte
				binary.LittleEndian.PutUint32(key[:], rng.Uint32())
				want := bytes.Clone(src[tc.off : tc.off+tc.n])
				maskRef(key, tc.pos, want)
				copy(buf, src)
				maskWith(m, key, tc.pos, buf[tc.off:tc.off+tc.n])
				if !bytes.Equal(buf[tc.off:tc.off+tc.n], want) {
					t.Errorf("len %d off %d pos %d: wrong bytes", tc.n, tc.off, tc.pos)
				}
				if !bytes.Equal(buf[:tc.off], src[:tc.off]) || !bytes.Equal(buf[tc.off+tc.n:], src[tc.off+tc.n:]) {
					t.Errorf("len %d off %d pos %d: bytes outside the slice changed", tc.n, tc.off, tc.pos)
				}
			}
		})
	}
}

// TestMaskSplit checks that masking a payload in pieces, carrying the
// returned position, equals masking it in one call, for any pieces.
func TestMaskSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, m := range supportedMasks(t) {
		t.Run(m.name, func(t *testing.T) {
			for iter := range 300 {
				n := rng.IntN(3000)
				if iter%3 == 0 {
					n = rng.IntN(100)
				}
				payload := make([]byte, n)
				for i := range payload {
					payload[i] = byte(rng.Uint32())
				}
				var key [4]byte
				binary.LittleEndian.PutUint32(key[:], rng.Uint32())
				pos0 := rng.IntN(4)

				want := bytes.Clone(payload)
				wantPos := maskRef(key, pos0, want)

				got := bytes.Clone(payload)
				pos := pos0
				for rest := got; len(rest) > 0; {
					k := 1 + rng.IntN(min(len(rest), 1+rng.IntN(300)))
					pos = maskWith(m, key, pos, rest[:k])
					rest = rest[k:]
				}
				if pos != wantPos || !bytes.Equal(got, want) {
					t.Fatalf("len %d pos %d key %x: split result differs (pos %d, want %d)", n, pos0, key, pos, wantPos)
				}
			}
		})
	}
}

func TestMaskPublic(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	tests := []struct {
		name    string
		key     [4]byte
		pos     int
		in      []byte
		want    []byte
		wantPos int
	}{
		{"empty", key, 2, nil, nil, 2},
		{"one byte", key, 0, []byte{0xff}, []byte{0xed}, 1},
		{"from pos 3", key, 3, []byte{0, 0, 0}, []byte{0x78, 0x12, 0x34}, 2},
		{"pos wraps mod 4", key, 7, []byte{0, 0}, []byte{0x78, 0x12}, 1},
		{"negative pos", key, -1, []byte{0}, []byte{0x78}, 0},
		// RFC 6455, section 5.7: a masked "Hello" from a client.
		{"RFC 6455 masked Hello", [4]byte{0x37, 0xfa, 0x21, 0x3d}, 0,
			[]byte("Hello"), []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			if got := Mask(tt.key, tt.pos, b); got != tt.wantPos {
				t.Errorf("Mask returned %d, want %d", got, tt.wantPos)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("Mask = %x, want %x", b, tt.want)
			}
		})
	}
}

func TestMaskNoAlloc(t *testing.T) {
	b := make([]byte, 4096)
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 7, 100, 4096} {
		if a := testing.AllocsPerRun(100, func() { Mask(key, 1, b[:n]) }); a != 0 {
			t.Errorf("Mask of %d bytes: %v allocs, want 0", n, a)
		}
	}
}

func FuzzMask(f *testing.F) {
	f.Add(uint32(0x3d21fa37), uint8(0), uint8(0), uint16(0), []byte("Hello"))
	f.Add(uint32(0xdeadbeef), uint8(3), uint8(1), uint16(17), bytes.Repeat([]byte{0xa5}, 300))
	f.Add(uint32(1), uint8(2), uint8(63), uint16(64), make([]byte, 129))
	ms := supportedMasks(f)
	f.Fuzz(func(t *testing.T, k uint32, pos, off uint8, cut uint16, data []byte) {
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], k)
		p := int(pos & 3)
		want := bytes.Clone(data)
		wantPos := maskRef(key, p, want)
		o := int(off & 63)
		buf := alignedBuf(o + len(data) + 8)
		for _, m := range ms {
			for i := range buf {
				buf[i] = 0xcc
			}
			b := buf[o : o+len(data)]
			copy(b, data)
			c := int(cut) % (len(data) + 1)
			got := maskWith(m, key, maskWith(m, key, p, b[:c]), b[c:])
			if got != wantPos || !bytes.Equal(b, want) {
				t.Fatalf("%s: len %d pos %d off %d cut %d: wrong result", m.name, len(data), p, o, c)
			}
			if bytes.Count(buf[:o], []byte{0xcc}) != o || bytes.Count(buf[o+len(data):], []byte{0xcc}) != 8 {
				t.Fatalf("%s: bytes outside the slice changed", m.name)
			}
		}
	})
}

var maskBenchSizes = []int{8, 64, 125, 512, 4096, 65536, 1 << 20}

// BenchmarkMask times Mask, each routine this CPU supports, a plain byte
// loop and copy() of the same size, aligned to 64 bytes and one byte off.
func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	type variant struct {
		name string
		fn   func(dst, src []byte)
	}
	var vs []variant
	for _, m := range supportedMasks(b) {
		if m.name == "Mask" {
			// Called directly below, as users do.
			vs = append(vs, variant{m.name, func(dst, _ []byte) { Mask(key, 1, dst) }})
			continue
		}
		vs = append(vs, variant{m.name, func(dst, _ []byte) { maskWith(m, key, 1, dst) }})
	}
	vs = append(vs,
		variant{"byteloop", func(dst, _ []byte) { maskRef(key, 1, dst) }},
		variant{"copy", func(dst, src []byte) { copy(dst, src) }},
	)
	for _, v := range vs {
		for _, n := range maskBenchSizes {
			for _, off := range []int{0, 1} {
				b.Run(fmt.Sprintf("impl=%s/size=%d/off=%d", v.name, n, off), func(b *testing.B) {
					dst := alignedBuf(n + 64)[off : off+n]
					src := alignedBuf(n + 64)[off : off+n]
					b.SetBytes(int64(n))
					for b.Loop() {
						v.fn(dst, src)
					}
				})
			}
		}
	}
}
