package rawws

import (
	"encoding/binary"
	"math/bits"
)

// Mask XORs b in place with key, starting at byte pos of the key, and returns
// the key position after b, so a payload can be masked in pieces:
// pos = Mask(key, pos, part). Only pos&3 matters. Masking twice with the same
// key and position restores the data (RFC 6455, section 5.3).
//
// Mask does not allocate and keeps no reference to b. The routine behind it
// (see MaskImpl) is chosen once at program start from the CPU's features.
func Mask(key [4]byte, pos int, b []byte) int {
	return maskFast(key, pos, b)
}

// maskKey turns key and pos into the 32-bit word whose low byte (little
// endian) masks the first byte of the payload.
func maskKey(key [4]byte, pos int) uint32 {
	return bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
}

// MaskImpl names the routine Mask uses on this machine: "avx512", "avx2" or
// "sse2" on amd64, "neon" on arm64, "generic" elsewhere or with -tags purego.
func MaskImpl() string { return maskImpls[maskBest].name }

// maskImpl is one masking routine. Every architecture lists its routines in
// maskImpls, best first, so that init can take the first the CPU supports and
// tests can run all of them.
type maskImpl struct {
	name      string
	supported bool
	// level is what the arch dispatcher (maskFast) switches on for this
	// routine, so the hot path makes a direct call, not an indirect one.
	level int
	// mask does what Mask does.
	mask func(key [4]byte, pos int, b []byte) int
}

// maskBest indexes maskImpls: the first routine the CPU supports.
var maskBest = func() int {
	for i, m := range maskImpls {
		if m.supported {
			return i
		}
	}
	// The generic routine is listed last everywhere and is always supported.
	panic("rawws: no masking routine")
}()

// maskLevel is maskImpls[maskBest].level, kept apart so maskFast reads one word.
var maskLevel = maskImpls[maskBest].level

func maskGenericPos(key [4]byte, pos int, b []byte) int {
	maskGeneric(b, maskKey(key, pos))
	return (pos + len(b)) & 3
}

// maskGeneric works a 64-bit word at a time, in portable Go. Loads and stores
// go through encoding/binary, which compiles to single unaligned moves where
// the CPU allows them and stays correct on big-endian machines.
func maskGeneric(b []byte, key uint32) {
	k := uint64(key)<<32 | uint64(key)
	for len(b) >= 32 {
		w := b[:32]
		binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^k)
		binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^k)
		binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^k)
		binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^k)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	// Steps of 8 and 4 bytes leave the key phase where it was.
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b, binary.LittleEndian.Uint32(b)^key)
		b = b[4:]
	}
	for i := range b {
		b[i] ^= byte(key >> (8 * i))
	}
}
