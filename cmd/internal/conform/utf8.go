package conform

// utf8Certain returns the index of the byte at which b becomes invalid
// UTF-8 for certain (no continuation could make it valid), len(b) when b
// is only cut short at its end, and -1 when b is valid. The byte ranges
// are those of RFC 3629 §4, which exclude overlong forms, surrogates and
// code points above U+10FFFF at the earliest byte that shows them.
func utf8Certain(b []byte) int {
	need := 0
	lo, hi := byte(0x80), byte(0xbf)
	for i, c := range b {
		if need > 0 {
			if c < lo || c > hi {
				return i
			}
			need--
			lo, hi = 0x80, 0xbf
			continue
		}
		switch {
		case c < 0x80:
		case c >= 0xc2 && c <= 0xdf:
			need = 1
		case c == 0xe0:
			need, lo = 2, 0xa0
		case c == 0xed:
			need, hi = 2, 0x9f
		case c >= 0xe1 && c <= 0xef:
			need = 2
		case c == 0xf0:
			need, lo = 3, 0x90
		case c == 0xf4:
			need, hi = 3, 0x8f
		case c >= 0xf1 && c <= 0xf3:
			need = 3
		default:
			return i
		}
	}
	if need > 0 {
		return len(b)
	}
	return -1
}
