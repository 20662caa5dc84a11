//go:build !purego

package rawws

import (
	"encoding/binary"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// maskPurego reports that no assembly routine is built in.
const maskPurego = false

// Levels understood by maskAsm (mask_amd64.s has the same numbers).
const (
	maskLevelGeneric = iota
	maskLevelSSE2
	maskLevelAVX2
	maskLevelAVX512
)

var maskImpls = []maskImpl{
	{name: "avx512", supported: cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW), level: maskLevelAVX512,
		mask: func(key [4]byte, pos int, b []byte) int { return maskAsmLevel(key, pos, b, maskLevelAVX512) }},
	{name: "avx2", supported: cpuid.CPU.Supports(cpuid.AVX2), level: maskLevelAVX2,
		mask: func(key [4]byte, pos int, b []byte) int { return maskAsmLevel(key, pos, b, maskLevelAVX2) }},
	// SSE2 is part of amd64 itself; asking keeps the table uniform. It
	// is always supported, so maskLevel is never maskLevelGeneric here.
	{name: "sse2", supported: cpuid.CPU.Supports(cpuid.SSE2), level: maskLevelSSE2,
		mask: func(key [4]byte, pos int, b []byte) int { return maskAsmLevel(key, pos, b, maskLevelSSE2) }},
	{name: "generic", supported: true, level: maskLevelGeneric, mask: maskGenericPos},
}

// maskFast and Mask are small enough to inline (check with
// go build -gcflags=-m), so a caller of Mask reaches the assembly in a single
// call: for 8-64 byte payloads that call is a good part of the cost.
func maskFast(key [4]byte, pos int, b []byte) int {
	return maskAsm(unsafe.SliceData(b), len(b), binary.LittleEndian.Uint32(key[:]), pos, maskLevel)
}

func maskAsmLevel(key [4]byte, pos int, b []byte, level int) int {
	return maskAsm(unsafe.SliceData(b), len(b), binary.LittleEndian.Uint32(key[:]), pos, level)
}

// maskAsm XORs the n bytes at p with the key bytes in key (byte 0 lowest),
// starting at key byte pos&3, with the vector width level selects; any
// level below maskLevelAVX2 runs the SSE2 code. It returns (pos+n)&3.
//
//go:noescape
func maskAsm(p *byte, n int, key uint32, pos int, level int) (next int)
