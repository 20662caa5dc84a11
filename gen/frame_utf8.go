package main

import "fmt"

// The UTF-8 validator is a shift-based DFA: every state is a bit offset
// (a multiple of 6) and utf8Trans[c] holds, at each state's offset, the
// offset of the state byte c leads to. One step is
//
//	s = utf8Trans[c] >> (s & 63)
//
// whose only dependency on the previous step is a shift, so a byte costs
// about one cycle. The states accept exactly the well-formed sequences of
// RFC 3629 §4 (Unicode Table 3-7): no overlongs, no surrogates, nothing past
// U+10FFFF, and each sequence is rejected at the first byte that cannot be
// part of a valid one.

// frameUTF8State is one DFA state with the byte ranges that leave it
// somewhere other than the error state.
type frameUTF8State struct {
	name, doc string
	edges     []frameUTF8Edge
}

type frameUTF8Edge struct {
	lo, hi byte
	to     string
}

// frameUTF8States: accept must come first (offset 0, so a zero validator is
// at a character boundary) and error second; its row is all error.
var frameUTF8States = []frameUTF8State{
	{"utf8Accept", "at a character boundary", []frameUTF8Edge{
		{0x00, 0x7f, "utf8Accept"},
		{0xc2, 0xdf, "utf8Need1"},
		{0xe0, 0xe0, "utf8E0"},
		{0xe1, 0xec, "utf8Need2"},
		{0xed, 0xed, "utf8ED"},
		{0xee, 0xef, "utf8Need2"},
		{0xf0, 0xf0, "utf8F0"},
		{0xf1, 0xf3, "utf8Need3"},
		{0xf4, 0xf4, "utf8F4"},
	}},
	{"utf8Error", "invalid, absorbing", nil},
	{"utf8Need1", "one continuation byte 80-BF to go", []frameUTF8Edge{{0x80, 0xbf, "utf8Accept"}}},
	{"utf8Need2", "two continuation bytes 80-BF to go", []frameUTF8Edge{{0x80, 0xbf, "utf8Need1"}}},
	{"utf8Need3", "three continuation bytes 80-BF to go", []frameUTF8Edge{{0x80, 0xbf, "utf8Need2"}}},
	{"utf8E0", "after E0: A0-BF (below is overlong)", []frameUTF8Edge{{0xa0, 0xbf, "utf8Need1"}}},
	{"utf8ED", "after ED: 80-9F (above are surrogates)", []frameUTF8Edge{{0x80, 0x9f, "utf8Need1"}}},
	{"utf8F0", "after F0: 90-BF (below is overlong)", []frameUTF8Edge{{0x90, 0xbf, "utf8Need2"}}},
	{"utf8F4", "after F4: 80-8F (above is past U+10FFFF)", []frameUTF8Edge{{0x80, 0x8f, "utf8Need2"}}},
}

func frameUTF8Src() []byte {
	off := map[string]uint64{}
	for i, s := range frameUTF8States {
		off[s.name] = uint64(6 * i)
	}
	if 6*len(frameUTF8States) > 64 {
		panic("utf8 DFA: too many states for a 64-bit row")
	}
	var rows [256]uint64
	for c := 0; c < 256; c++ {
		for _, s := range frameUTF8States {
			to := off["utf8Error"]
			for _, e := range s.edges {
				if byte(c) >= e.lo && byte(c) <= e.hi {
					to = off[e.to]
				}
			}
			rows[c] |= to << off[s.name]
		}
	}

	w := newFrameWriter()
	w.p("package frame")
	w.p("")
	w.p("// UTF-8 DFA states, as bit offsets into a utf8Trans row.")
	w.p("const (")
	for _, s := range frameUTF8States {
		w.p("\t%s = %d // %s", s.name, off[s.name], s.doc)
	}
	w.p(")")
	w.p("")
	w.p("// utf8Trans[c] >> s & 63 is the state byte c leads to from state s.")
	w.p("var utf8Trans = [256]uint64{")
	for row := 0; row < 256; row += 4 {
		line := "\t"
		for c := row; c < row+4; c++ {
			line += fmt.Sprintf("0x%016x, ", rows[c])
		}
		w.p("%s// %02X-%02X", line, row, row+3)
	}
	w.p("}")
	return w.Bytes()
}
