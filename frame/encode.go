package frame

// PutHeader writes h into dst in its minimal length form and returns the
// header length (2 to MaxHeaderSize bytes). The key is written when
// h.Masked; the payload is not touched (mask it with the root package's
// Mask). Only the low four bits of Opcode and the RSV bits 0x70 of Rsv are
// used.
//
// PutHeader panics if dst is shorter than the header (len(dst) >=
// MaxHeaderSize always suffices) or h.Length is negative. It allocates
// nothing.
func PutHeader(dst []byte, h Header) int {
	b0 := byte(h.Opcode&0x0f) | h.Rsv&0x70
	if h.Fin {
		b0 |= 0x80
	}
	switch {
	case uint64(h.Length) <= 125:
		if h.Masked {
			return putHeader7Masked(dst, b0, &h)
		}
		return putHeader7(dst, b0, &h)
	case uint64(h.Length) <= 0xffff:
		if h.Masked {
			return putHeader16Masked(dst, b0, &h)
		}
		return putHeader16(dst, b0, &h)
	case h.Length > 0:
		if h.Masked {
			return putHeader64Masked(dst, b0, &h)
		}
		return putHeader64(dst, b0, &h)
	}
	panic("frame: PutHeader: negative payload length")
}

// AppendHeader appends the encoding of h (as PutHeader writes it) to dst and
// returns the extended slice. It panics if h.Length is negative.
func AppendHeader(dst []byte, h Header) []byte {
	n := len(dst)
	if cap(dst)-n < MaxHeaderSize {
		dst = append(dst, make([]byte, MaxHeaderSize)...)
	}
	m := PutHeader(dst[n:n+MaxHeaderSize], h)
	return dst[:n+m]
}

// HeaderSize returns how many bytes PutHeader writes for h.
func HeaderSize(h Header) int {
	n := 2
	switch {
	case uint64(h.Length) <= 125:
	case uint64(h.Length) <= 0xffff:
		n += 2
	default:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	return n
}
