package main

import (
	"bytes"
	"fmt"
)

func init() { register("http", genHTTP) }

// Byte classes of RFC 9110/9112, one bit each, so the parser answers "may
// this byte appear here?" with one table load and a mask.
const (
	httpClsToken  = 1 << 0 // tchar (RFC 9110 §5.6.2): method and field-name bytes
	httpClsValue  = 1 << 1 // field-value byte: VCHAR, obs-text, SP, HTAB (§5.5)
	httpClsTarget = 1 << 2 // request-target byte we accept: visible ASCII (0x21-0x7E)
	httpClsURI    = 1 << 3 // strict RFC 3986 URI byte: unreserved, reserved, '%'
	httpClsHex    = 1 << 4 // HEXDIG
	httpClsDigit  = 1 << 5 // DIGIT
	httpClsOWS    = 1 << 6 // SP or HTAB
)

func httpTchar(c int) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), byte(c)) >= 0
}

func httpClass(c int) uint8 {
	var k uint8
	if httpTchar(c) {
		k |= httpClsToken
	}
	if (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t' {
		k |= httpClsValue
	}
	if c >= 0x21 && c <= 0x7e {
		k |= httpClsTarget
	}
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		k |= httpClsURI
	case bytes.IndexByte([]byte("-._~:/?#[]@!$&'()*+,;=%"), byte(c)) >= 0:
		k |= httpClsURI
	}
	if ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') {
		k |= httpClsHex
	}
	if '0' <= c && c <= '9' {
		k |= httpClsDigit
	}
	if c == ' ' || c == '\t' {
		k |= httpClsOWS
	}
	return k
}

// genHTTP writes http/tables_gen.go: the byte-class table the request
// parser runs on and an ASCII lower-casing table for header-name matching.
func genHTTP(root string) error {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("package http\n\n")
	b.WriteString("// Byte classes, one bit each; see gen/http.go for the grammar they follow.\n")
	b.WriteString("const (\n")
	for _, c := range []struct {
		name string
		v    int
		doc  string
	}{
		{"clsToken", httpClsToken, "tchar (RFC 9110 §5.6.2): method and field-name bytes"},
		{"clsValue", httpClsValue, "field-value byte: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5)"},
		{"clsTarget", httpClsTarget, "request-target byte accepted: visible ASCII 0x21-0x7E"},
		{"clsURI", httpClsURI, "strict RFC 3986 byte: unreserved, reserved or '%'"},
		{"clsHex", httpClsHex, "HEXDIG"},
		{"clsDigit", httpClsDigit, "DIGIT"},
		{"clsOWS", httpClsOWS, "SP or HTAB"},
	} {
		fmt.Fprintf(&b, "\t%s = %d // %s\n", c.name, c.v, c.doc)
	}
	b.WriteString(")\n\n")
	b.WriteString("// byteClass maps each byte to the set of classes it belongs to.\n")
	b.WriteString("var byteClass = [256]uint8{\n")
	for i := 0; i < 256; i++ {
		if i%16 == 0 {
			b.WriteString("\t")
		}
		fmt.Fprintf(&b, "0x%02x,", httpClass(i))
		if i%16 == 15 {
			fmt.Fprintf(&b, " // 0x%02x-0x%02x\n", i-15, i)
		} else {
			b.WriteString(" ")
		}
	}
	b.WriteString("}\n\n")
	b.WriteString("// lowerASCII maps A-Z to a-z and every other byte to itself.\n")
	b.WriteString("var lowerASCII = [256]uint8{\n")
	for i := 0; i < 256; i++ {
		if i%16 == 0 {
			b.WriteString("\t")
		}
		c := i
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		fmt.Fprintf(&b, "0x%02x,", c)
		if i%16 == 15 {
			b.WriteString("\n")
		} else {
			b.WriteString(" ")
		}
	}
	b.WriteString("}\n")
	return writeGo(root, "http/tables_gen.go", b.Bytes())
}
