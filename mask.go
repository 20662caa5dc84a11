package rawws

// Mask XORs b in place with key, starting at byte pos (0-3) of the key, and
// returns the key position after b, so a payload can be masked in pieces:
// pos = Mask(key, pos, part).
func Mask(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}
