package main

// frameEncodeSrc emits one encoder per length form × masked/unmasked. Each
// writes its header with as few stores as the layout allows: the two fixed
// bytes (and a 16-bit length) go out as one little-endian word, a 64-bit
// length as one big-endian word, the key as one 4-byte copy.
func frameEncodeSrc() []byte {
	w := newFrameWriter()
	w.p("package frame")
	w.p("")
	w.p("import (")
	w.p("\t\"encoding/binary\"")
	w.p("\t\"math/bits\"")
	w.p(")")
	w.p("")
	for _, f := range frameForms {
		n := f.size()
		m := 0
		if f.masked {
			m = 0x80
		}
		w.p("// putHeader%s writes the %d-byte header: b0, then %d-bit length, masked=%v.", f.suffix(), n, f.lenBits(), f.masked)
		w.p("func putHeader%s(dst []byte, b0 byte, h *Header) int {", f.suffix())
		w.p("\t_ = dst[%d]", n-1)
		switch f.ext {
		case 0:
			w.p("\tbinary.LittleEndian.PutUint16(dst, uint16(b0)|uint16(0x%02x|byte(h.Length))<<8)", m)
		case 2:
			w.p("\tbinary.LittleEndian.PutUint32(dst, uint32(b0)|0x%02x<<8|uint32(bits.ReverseBytes16(uint16(h.Length)))<<16)", m|f.len7())
		case 8:
			w.p("\tbinary.LittleEndian.PutUint16(dst, uint16(b0)|0x%02x<<8)", m|f.len7())
			w.p("\tbinary.BigEndian.PutUint64(dst[2:], uint64(h.Length))")
		}
		if f.masked {
			w.p("\t*(*[4]byte)(dst[%d:%d]) = h.Key", 2+f.ext, n)
		}
		w.p("\treturn %d", n)
		w.p("}")
		w.p("")
	}
	return w.Bytes()
}
