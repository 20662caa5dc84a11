//go:build !purego

package rawws

import "unsafe"

// maskPurego reports that no assembly routine is built in.
const maskPurego = false

// NEON (Advanced SIMD) is mandatory in ARMv8-A, the least Go supports on
// arm64, so it needs no feature test.
var maskImpls = []maskImpl{
	{name: "neon", supported: true, level: 1,
		mask: maskFast},
	{name: "generic", supported: true, level: 0, mask: maskGenericPos},
}

func maskFast(key [4]byte, pos int, b []byte) int {
	k := maskKey(key, pos)
	maskNEON(unsafe.SliceData(b), len(b), uint64(k)<<32|uint64(k))
	return (pos + len(b)) & 3
}

// maskNEON XORs the n bytes at p with key, a 4-byte key repeated twice whose
// low byte goes to p[0].
//
//go:noescape
func maskNEON(p *byte, n int, key uint64)
