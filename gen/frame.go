package main

import (
	"bytes"
	"fmt"
)

// The frame generator writes three files into frame/:
//
//   - parser_gen.go: the incremental header parser, one goto-labelled state
//     per header byte position (frame_parser.go), plus the whole-header fast
//     path with one case per length form × masked/unmasked;
//   - encode_gen.go: one header encoder per length form × masked/unmasked
//     (frame_encode.go);
//   - utf8_gen.go: the transition table of the shift-based UTF-8 DFA
//     (frame_utf8.go).
//
// The rules live here once, as data (the length forms, the opcode classes,
// the UTF-8 byte ranges of RFC 3629), and the emitted code is straight-line,
// so the hot paths carry no loops or lookups a compiler cannot see through.
func init() { register("frame", genFrame) }

func genFrame(root string) error {
	for _, f := range []struct {
		rel string
		gen func() []byte
	}{
		{"frame/parser_gen.go", frameParserSrc},
		{"frame/encode_gen.go", frameEncodeSrc},
		{"frame/utf8_gen.go", frameUTF8Src},
	} {
		if err := writeGo(root, f.rel, f.gen()); err != nil {
			return err
		}
	}
	return nil
}

// frameWriter accumulates Go source; every generated file begins with the
// shared header so Go tools treat it as generated.
type frameWriter struct{ bytes.Buffer }

func newFrameWriter() *frameWriter {
	w := &frameWriter{}
	w.WriteString(header)
	return w
}

// p writes one formatted line.
func (w *frameWriter) p(format string, args ...any) {
	fmt.Fprintf(w, format, args...)
	w.WriteByte('\n')
}

// frameForm is one way a header can be laid out: the extended length field
// (0, 2 or 8 bytes) and whether a 4-byte masking key follows it.
type frameForm struct {
	ext    int
	masked bool
}

// frameForms lists the six layouts in the order PutHeader and the parser's
// fast path test them.
var frameForms = []frameForm{
	{0, false}, {0, true},
	{2, false}, {2, true},
	{8, false}, {8, true},
}

func (f frameForm) size() int {
	n := 2 + f.ext
	if f.masked {
		n += 4
	}
	return n
}

// lenBits names the form by its length field width as RFC 6455 §5.2 does:
// 7-bit, 7+16-bit or 7+64-bit.
func (f frameForm) lenBits() int {
	switch f.ext {
	case 2:
		return 16
	case 8:
		return 64
	}
	return 7
}

// len7 is the 7-bit length value that announces the extended field.
func (f frameForm) len7() int {
	switch f.ext {
	case 2:
		return 126
	case 8:
		return 127
	}
	return -1
}

func (f frameForm) suffix() string {
	if f.masked {
		return fmt.Sprintf("%dMasked", f.lenBits())
	}
	return fmt.Sprint(f.lenBits())
}
