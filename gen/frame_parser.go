package main

import "fmt"

// The header parser is emitted as two functions:
//
//   - parse: when a header starts and the whole of it is in b (the usual
//     case: a read brings header and payload together), one case per length
//     form × masked/unmasked decodes it with fixed offsets and one combined
//     validity test. Anything unusual (an error, a limit hit, a split
//     header) drops to parseSlow, which then decides it exactly, so the
//     errors the fast path would report cannot drift from the slow path's.
//   - parseSlow: a state machine with one labelled state per header byte
//     position. It consumes what b holds, remembers the state and resumes
//     there on the next call, validating every byte as it arrives.

// frameB0Class classifies a first header byte apart from its RSV bits:
// 0 valid, 1 reserved opcode, 2 control opcode without FIN (RFC 6455 §5.4:
// control frames must not be fragmented).
func frameB0Class(b byte) int {
	op := b & 0x0f
	switch {
	case (op >= 0x3 && op <= 0x7) || op >= 0xb:
		return 1
	case op&0x8 != 0 && b&0x80 == 0:
		return 2
	}
	return 0
}

// frameMaskBad reports whether the MASK bit m violates policy pol
// (0 any, 1 required, 2 forbidden; 3 is not a policy and behaves as any).
func frameMaskBad(pol, m int) int {
	if (pol == 1 && m == 0) || (pol == 2 && m == 1) {
		return 1
	}
	return 0
}

func frameParserSrc() []byte {
	w := newFrameWriter()
	w.p("package frame")
	w.p("")
	w.p(`import "encoding/binary"`)
	w.p("")

	// States: one per header byte position, named after the field that
	// byte belongs to.
	var states []string
	states = append(states, "stB0", "stB1")
	for i := 0; i < 2; i++ {
		states = append(states, fmt.Sprintf("stLen16_%d", i))
	}
	for i := 0; i < 8; i++ {
		states = append(states, fmt.Sprintf("stLen64_%d", i))
	}
	for i := 0; i < 4; i++ {
		states = append(states, fmt.Sprintf("stKey%d", i))
	}
	w.p("// Parser states: the header byte the parser expects next. stB0 is the")
	w.p("// zero value, so a zero Parser waits for a new header.")
	w.p("const (")
	for i, s := range states {
		if i == 0 {
			w.p("\t%s uint8 = iota", s)
		} else {
			w.p("\t%s", s)
		}
	}
	w.p("\tstFailed // sticky until Reset")
	w.p(")")
	w.p("")

	w.p("// b0Class classifies the first header byte ignoring its RSV bits: 0 valid,")
	w.p("// 1 reserved opcode, 2 control opcode with FIN clear.")
	w.p("var b0Class = [256]uint8{")
	for row := 0; row < 256; row += 16 {
		line := "\t"
		for b := row; b < row+16; b++ {
			line += fmt.Sprintf("%d, ", frameB0Class(byte(b)))
		}
		w.p("%s", line)
	}
	w.p("}")
	w.p("")
	w.p("// b0Errors maps a nonzero b0Class to its error.")
	w.p("var b0Errors = [3]*ProtocolError{1: errReservedOpcode, 2: errFragmentedControl}")
	w.p("")
	w.p("// maskBad[policy&3][MASK bit] is 1 when the MASK bit violates the policy.")
	w.p("var maskBad = [4][2]uint8{")
	for pol := 0; pol < 4; pol++ {
		w.p("\t{%d, %d},", frameMaskBad(pol, 0), frameMaskBad(pol, 1))
	}
	w.p("}")
	w.p("")

	frameEmitFast(w)
	frameEmitSlow(w)
	return w.Bytes()
}

// frameEmitFast writes parse: the whole-header fast path.
func frameEmitFast(w *frameWriter) {
	w.p("// parse decodes a whole header at once when b holds all of it and it is")
	w.p("// valid; otherwise parseSlow takes over from the same starting point.")
	w.p("func (p *Parser) parse(b []byte) (int, bool, error) {")
	w.p("\tif p.st == stB0 && len(b) >= 2 {")
	w.p("\t\tb0, b1 := b[0], b[1]")
	w.p("\t\tif b0Class[b0]|b0&0x70&^p.AllowedRsv|maskBad[p.Masking&3][b1>>7] == 0 {")
	w.p("\t\t\t// A limit of MaxInt64 also rejects a 64-bit length with its top bit")
	w.p("\t\t\t// set, so one comparison covers both rules.")
	w.p("\t\t\tlim := uint64(p.MaxFrameSize)")
	w.p("\t\t\tif p.MaxFrameSize <= 0 {")
	w.p("\t\t\t\tlim = 1<<63 - 1")
	w.p("\t\t\t}")
	w.p("\t\t\tswitch {")
	for _, f := range frameForms {
		var cond string
		switch {
		case f.ext == 0 && !f.masked:
			cond = "b1 < 126"
		case f.ext == 0:
			cond = "b1-0x80 < 126"
		case f.masked:
			cond = fmt.Sprintf("b1 == 0x80|%d", f.len7())
		default:
			cond = fmt.Sprintf("b1 == %d", f.len7())
		}
		n := f.size()
		w.p("\t\t\tcase %s: // %d-byte header: %d-bit length, masked=%v", cond, n, f.lenBits(), f.masked)
		if n > 2 { // the fast path is entered with len(b) >= 2
			w.p("\t\t\t\tif len(b) < %d {", n)
			w.p("\t\t\t\t\tbreak")
			w.p("\t\t\t\t}")
		}
		switch f.ext {
		case 0:
			w.p("\t\t\t\tl := uint64(b1 & 0x7f)")
		case 2:
			w.p("\t\t\t\tl := uint64(binary.BigEndian.Uint16(b[2:4]))")
		case 8:
			w.p("\t\t\t\tl := binary.BigEndian.Uint64(b[2:10])")
		}
		if f.ext != 0 {
			w.p("\t\t\t\tif b0&0x08 != 0 || l > lim {")
		} else {
			w.p("\t\t\t\tif l > lim {")
		}
		w.p("\t\t\t\t\tbreak")
		w.p("\t\t\t\t}")
		// Field by field: a composite literal with the key is built on the
		// stack first, and copying it out stalls on store forwarding.
		w.p("\t\t\t\th := &p.hdr")
		w.p("\t\t\t\th.Fin, h.Rsv, h.Opcode, h.Masked = b0&0x80 != 0, b0&0x70, Opcode(b0&0x0f), %v", f.masked)
		if f.masked {
			w.p("\t\t\t\th.Key = [4]byte(b[%d:%d])", 2+f.ext, n)
		} else {
			w.p("\t\t\t\th.Key = [4]byte{}")
		}
		w.p("\t\t\t\th.Length = int64(l)")
		w.p("\t\t\t\treturn %d, true, nil", n)
	}
	w.p("\t\t\t}")
	w.p("\t\t}")
	w.p("\t}")
	w.p("\treturn p.parseSlow(b)")
	w.p("}")
	w.p("")
}

// frameEmitSlow writes parseSlow: the byte-position state machine.
func frameEmitSlow(w *frameWriter) {
	w.p("// parseSlow runs the header state machine over b from the saved state:")
	w.p("// each label is one header byte position; running out of input saves the")
	w.p("// label's state and returns, and the next call jumps straight back to it.")
	w.p("func (p *Parser) parseSlow(b []byte) (int, bool, error) {")
	w.p("\ti := 0")
	w.p("\tswitch p.st {")
	labels := []struct{ st, label string }{{"stB0", "b0"}, {"stB1", "b1"}}
	for i := 0; i < 2; i++ {
		labels = append(labels, struct{ st, label string }{fmt.Sprintf("stLen16_%d", i), fmt.Sprintf("len16_%d", i)})
	}
	for i := 0; i < 8; i++ {
		labels = append(labels, struct{ st, label string }{fmt.Sprintf("stLen64_%d", i), fmt.Sprintf("len64_%d", i)})
	}
	for i := 0; i < 4; i++ {
		labels = append(labels, struct{ st, label string }{fmt.Sprintf("stKey%d", i), fmt.Sprintf("key%d", i)})
	}
	for _, l := range labels {
		w.p("\tcase %s:", l.st)
		w.p("\t\tgoto %s", l.label)
	}
	w.p("\tdefault:")
	w.p("\t\treturn 0, false, p.err")
	w.p("\t}")
	wait := func(st string) {
		w.p("\tif i == len(b) {")
		w.p("\t\tp.st = %s", st)
		w.p("\t\treturn i, false, nil")
		w.p("\t}")
	}

	w.p("b0:")
	wait("stB0")
	w.p("\t{")
	w.p("\t\tc := b[i]")
	w.p("\t\ti++")
	w.p("\t\tif c&0x70&^p.AllowedRsv != 0 {")
	w.p("\t\t\treturn p.fail(i, errReservedBits)")
	w.p("\t\t}")
	w.p("\t\tif k := b0Class[c]; k != 0 {")
	w.p("\t\t\treturn p.fail(i, b0Errors[k])")
	w.p("\t\t}")
	w.p("\t\tp.cur = Header{Fin: c&0x80 != 0, Rsv: c & 0x70, Opcode: Opcode(c & 0x0f)}")
	w.p("\t}")

	w.p("b1:")
	wait("stB1")
	w.p("\t{")
	w.p("\t\tc := b[i]")
	w.p("\t\ti++")
	w.p("\t\tif maskBad[p.Masking&3][c>>7] != 0 {")
	w.p("\t\t\tif c&0x80 == 0 {")
	w.p("\t\t\t\treturn p.fail(i, errUnmasked)")
	w.p("\t\t\t}")
	w.p("\t\t\treturn p.fail(i, errMasked)")
	w.p("\t\t}")
	w.p("\t\tp.cur.Masked = c&0x80 != 0")
	w.p("\t\tswitch c & 0x7f {")
	for _, ext := range []int{2, 8} {
		f := frameForm{ext: ext}
		w.p("\t\tcase %d:", f.len7())
		w.p("\t\t\tif p.cur.Opcode.IsControl() {")
		w.p("\t\t\t\treturn p.fail(i, errControlTooLong)")
		w.p("\t\t\t}")
		w.p("\t\t\tgoto len%d_0", f.lenBits())
	}
	w.p("\t\tdefault:")
	w.p("\t\t\tp.cur.Length = int64(c & 0x7f)")
	w.p("\t\t\tgoto lenDone")
	w.p("\t\t}")
	w.p("\t}")

	for _, ext := range []int{2, 8} {
		bits := frameForm{ext: ext}.lenBits()
		for k := 0; k < ext; k++ {
			w.p("len%d_%d:", bits, k)
			wait(fmt.Sprintf("stLen%d_%d", bits, k))
			if ext == 8 && k == 0 {
				w.p("\tif b[i]&0x80 != 0 { // RFC 6455 §5.2: the most significant bit MUST be 0")
				w.p("\t\treturn p.fail(i+1, errLengthTopBit)")
				w.p("\t}")
			}
			w.p("\tp.cur.Length = p.cur.Length<<8 | int64(b[i])")
			w.p("\ti++")
		}
		if ext != 8 { // the 64-bit form falls through into lenDone
			w.p("\tgoto lenDone")
		}
	}

	w.p("lenDone:")
	w.p("\tif p.MaxFrameSize > 0 && p.cur.Length > p.MaxFrameSize {")
	w.p("\t\treturn p.fail(i, errTooBig)")
	w.p("\t}")
	w.p("\tif !p.cur.Masked {")
	w.p("\t\tgoto done")
	w.p("\t}")
	for k := 0; k < 4; k++ {
		w.p("key%d:", k)
		wait(fmt.Sprintf("stKey%d", k))
		w.p("\tp.cur.Key[%d] = b[i]", k)
		w.p("\ti++")
	}
	w.p("done:")
	w.p("\tp.st = stB0")
	w.p("\tp.hdr = p.cur")
	w.p("\treturn i, true, nil")
	w.p("}")
}
