package conform

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// All returns the whole suite in order. The slice is shared: do not
// modify it.
func All() []Case { return allCases() }

var allCases = sync.OnceValue(func() []Case {
	var cs []Case
	for _, sec := range []func() []Case{
		framingCases, pingCases, rsvCases, opcodeCases, fragmentCases,
		utf8Cases, closeCases, sizeCases, miscCases,
		deflateSizeCases, deflateParamCases,
	} {
		cs = append(cs, sec()...)
	}
	return cs
})

// Codes a conforming server uses to fail the connection.
const (
	codeProtocol = 1002
	codeInvalid  = 1007
	codeTooBig   = 1009
)

var (
	protoErr   = []int{codeProtocol}
	invalidErr = []int{codeInvalid}
)

// id numbers cases within a subsection: id("6.5")() yields 6.5.1, 6.5.2...
func ider(prefix string) func() string {
	n := 0
	return func() string {
		n++
		return prefix + "." + strconv.Itoa(n)
	}
}

// textPayload is n bytes of readable ASCII.
func textPayload(n int) []byte {
	const pat = "The quick brown fox jumps over the lazy dog. 0123456789 "
	b := make([]byte, n)
	for i := range b {
		b[i] = pat[i%len(pat)]
	}
	return b
}

// binPayload is n bytes of every byte value, in an order that is not a
// simple ramp (a server confusing offsets shows up).
func binPayload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

// fragments splits p into frames of at most size bytes: the first with op,
// the rest continuations, the last with FIN.
func fragments(op byte, p []byte, size int) []wframe {
	if len(p) == 0 {
		return []wframe{{fin: true, op: op}}
	}
	var fs []wframe
	for off := 0; off < len(p); off += size {
		end := min(off+size, len(p))
		o := opCont
		if off == 0 {
			o = op
		}
		fs = append(fs, wframe{fin: end == len(p), op: o, payload: p[off:end]})
	}
	return fs
}

// --- 1 framing -----------------------------------------------------------

var frameSizes = []int{0, 1, 125, 126, 127, 128, 65535, 65536, 16 << 20}

func framingCases() []Case {
	var cs []Case
	for i, kind := range []struct {
		op   byte
		name string
		gen  func(int) []byte
	}{{opText, "text", textPayload}, {opBinary, "binary", binPayload}} {
		whole, chop := ider("1."+strconv.Itoa(1+i)), ider("1."+strconv.Itoa(3+i))
		for _, n := range frameSizes {
			p := kind.gen(n)
			f := wframe{fin: true, op: kind.op, payload: p}
			cs = append(cs, echoCase(whole(), fmt.Sprintf("%s message of %s in one frame", kind.name, sizeName(n)),
				[]step{send1(f)}, msg(kind.op, p)))
			w := 1
			if n > 64<<10 {
				w = 64 << 10
			}
			cs = append(cs, echoCase(chop(), fmt.Sprintf("%s message of %s, frame written in %d-byte pieces", kind.name, sizeName(n), w),
				[]step{chopped(w, f)}, msg(kind.op, p)))
		}
	}
	id := ider("1.5")
	unmasked := text("unmasked")
	unmasked.unmasked = true
	cs = append(cs, failCase(id(), "unmasked text frame from the client", []step{send1(unmasked)}, nil, protoErr, nil))
	ub := wframe{fin: true, op: opBinary, unmasked: true}
	cs = append(cs, failCase(id(), "unmasked empty binary frame after a good message",
		[]step{send1(text("good")), send1(ub)}, []item{textMsg("good")}, protoErr, nil))
	cs = append(cs, failCase(id(), "64-bit length with the most significant bit set",
		[]step{send1(wframe{op: opBinary, fin: true, payload: []byte("x"), declared: 1 << 63})}, nil, protoErr, []int{codeTooBig}))
	cs = append(cs, failCase(id(), "frame announcing 1 TiB (over any sane limit)",
		[]step{send1(wframe{op: opBinary, fin: true, payload: []byte("x"), declared: 1 << 40})}, nil, []int{codeTooBig}, protoErr))
	for _, form := range []int{2, 3} {
		f := text("non-minimal")
		f.lenForm = form
		cs = append(cs, infoCase(id(), fmt.Sprintf("5-byte text with its length in the %d-bit form (non-minimal)", map[int]int{2: 16, 3: 64}[form]),
			[]step{send1(f)}, textMsg("non-minimal")))
	}
	return cs
}

// infoCase sends steps and reports whether the server echoed want or
// failed; the RFC leaves the choice open, so it is INFORMATIONAL.
func infoCase(id, desc string, steps []step, want item) Case {
	return Case{ID: id, Description: desc, Expect: "either (informational)", run: func(s *session) (Verdict, string) {
		s.send(steps...)
		got := s.next()
		if sameItem(want, got) {
			v, d := s.closeNormally()
			if v != OK {
				return v, "accepted; " + d
			}
			return Informational, "accepted and echoed"
		}
		return Informational, "rejected: " + got.String()
	}}
}

// --- 2 ping/pong ---------------------------------------------------------

func pingCases() []Case {
	id := ider("2")
	p125 := binPayload(125)
	hello := []byte("Hello, world!")
	bin := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	cs := []Case{
		echoCase(id(), "ping without payload", []step{send1(ping(nil))}, pong(nil)),
		echoCase(id(), "ping with a text payload", []step{send1(ping(hello))}, pong(hello)),
		echoCase(id(), "ping with a binary payload", []step{send1(ping(bin))}, pong(bin)),
		echoCase(id(), "ping with a 125-byte payload", []step{send1(ping(p125))}, pong(p125)),
		failCase(id(), "ping with a 126-byte payload", []step{send1(ping(binPayload(126)))}, nil, protoErr, nil),
		echoCase(id(), "ping with a 125-byte payload in 1-byte writes", []step{chopped(1, ping(p125))}, pong(p125)),
		echoCase(id(), "unsolicited empty pong is ignored", []step{send1(pongF(nil), text("after pong"))}, textMsg("after pong")),
		echoCase(id(), "unsolicited pong with payload is ignored", []step{send1(pongF(hello), text("after pong"))}, textMsg("after pong")),
		echoCase(id(), "unsolicited pong, then ping", []step{send1(pongF([]byte("unsolicited")), ping([]byte("solicited")))}, pong([]byte("solicited"))),
		tenPings(id(), 0),
		tenPings(id(), 1),
		failCase(id(), "fragmented ping (FIN=0 ping, then continuation)",
			[]step{send1(frag(opPing, false, []byte("frag1")), frag(opCont, true, []byte("frag2")))}, nil, protoErr, nil),
		echoCase(id(), "ping between the fragments of a text message",
			[]step{send1(frag(opText, false, []byte("Hello, ")), ping([]byte("inside")), frag(opCont, true, []byte("world")))},
			pong([]byte("inside")), textMsg("Hello, world")),
		failCase(id(), "pong with a 126-byte payload", []step{send1(pongF(binPayload(126)))}, nil, protoErr, nil),
		failCase(id(), "ping with a 200-byte payload in 1-byte writes", []step{chopped(1, ping(binPayload(200)))}, nil, protoErr, nil),
		failCase(id(), "ping with FIN=0 and nothing after it", []step{send1(frag(opPing, false, []byte("never finished")))}, nil, protoErr, nil),
		failCase(id(), "good ping, then a 126-byte ping",
			[]step{send1(ping([]byte("ok"))), send1(ping(binPayload(126)))}, []item{pong([]byte("ok"))}, protoErr, nil),
	}
	return cs
}

// tenPings: RFC 6455 §5.5.3 lets a server answer only the most recent of
// pings it has not answered yet, so fewer pongs are fine as long as the
// last one comes and they come in order.
func tenPings(id string, chop int) Case {
	desc := "ten pings in a row"
	if chop > 0 {
		desc += ", in 1-byte writes"
	}
	return Case{ID: id, Description: desc, Expect: "pongs in order, the last one at least", run: func(s *session) (Verdict, string) {
		var fs []wframe
		for i := range 10 {
			fs = append(fs, ping([]byte("ping "+strconv.Itoa(i))))
		}
		s.send(step{frames: fs, chop: chop})
		next, got := 0, 0
		for next < 10 {
			it := s.next()
			if it.kind != itPong {
				return Failed, fmt.Sprintf("after %d pongs: %s", got, it)
			}
			k, err := strconv.Atoi(strings.TrimPrefix(string(it.data), "ping "))
			if err != nil || !strings.HasPrefix(string(it.data), "ping ") || k < next {
				return Failed, fmt.Sprintf("pong %s out of order or not for a ping sent", quote(it.data))
			}
			next, got = k+1, got+1
		}
		v, d := s.closeNormally()
		if v == OK && got < 10 {
			d = fmt.Sprintf("answered %d of 10 pings (allowed: the last was answered)", got)
		}
		return v, d
	}}
}

// --- 3 reserved bits -----------------------------------------------------

func rsvCases() []Case {
	var cs []Case
	rsvName := func(r byte) string {
		var n []string
		for i, bit := range []byte{0x40, 0x20, 0x10} {
			if r&bit != 0 {
				n = append(n, "RSV"+strconv.Itoa(i+1))
			}
		}
		return strings.Join(n, "+")
	}
	with := func(f wframe, r byte) wframe { f.rsv = r; return f }
	kinds := []struct {
		desc  string
		steps func(r byte) []step
		pre   []item
	}{
		{"text frame with %s", func(r byte) []step { return []step{send1(with(text("rsv"), r))} }, nil},
		{"good text, then text with %s, then ping", func(r byte) []step {
			return []step{send1(text("good")), send1(with(text("rsv"), r), ping([]byte("after")))}
		}, []item{textMsg("good")}},
		{"good text, then text with %s, then ping, in 1-byte writes", func(r byte) []step {
			return []step{chopped(1, text("good"), with(text("rsv"), r), ping([]byte("after")))}
		}, []item{textMsg("good")}},
		{"binary frame with %s", func(r byte) []step { return []step{send1(with(binaryF(binPayload(10)), r))} }, nil},
		{"ping with %s", func(r byte) []step { return []step{send1(with(ping([]byte("rsv")), r))} }, nil},
		{"close 1000 with %s", func(r byte) []step { return []step{send1(with(closeF(1000, ""), r))} }, nil},
		{"continuation frame with %s", func(r byte) []step {
			return []step{send1(frag(opText, false, []byte("frag1")), with(frag(opCont, true, []byte("frag2")), r))}
		}, nil},
	}
	for k, kind := range kinds {
		id := ider("3." + strconv.Itoa(k+1))
		for _, r := range []byte{0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70} {
			cs = append(cs, failCase(id(), fmt.Sprintf(kind.desc, rsvName(r)), kind.steps(r), kind.pre, protoErr, nil))
		}
	}
	return cs
}

// --- 4 opcodes -----------------------------------------------------------

func opcodeCases() []Case {
	var cs []Case
	for g, ops := range [][]byte{{3, 4, 5, 6, 7}, {0xb, 0xc, 0xd, 0xe, 0xf}} {
		kind := "data"
		if g == 1 {
			kind = "control"
		}
		empty, withP, after := ider("4."+strconv.Itoa(3*g+1)), ider("4."+strconv.Itoa(3*g+2)), ider("4."+strconv.Itoa(3*g+3))
		for _, op := range ops {
			cs = append(cs,
				failCase(empty(), fmt.Sprintf("reserved %s opcode %#x, empty", kind, op),
					[]step{send1(wframe{fin: true, op: op})}, nil, protoErr, nil),
				failCase(withP(), fmt.Sprintf("reserved %s opcode %#x with payload", kind, op),
					[]step{send1(wframe{fin: true, op: op, payload: []byte("reserved opcode")})}, nil, protoErr, nil),
				failCase(after(), fmt.Sprintf("good text, reserved %s opcode %#x, then ping", kind, op),
					[]step{send1(text("good")), send1(wframe{fin: true, op: op, payload: []byte("reserved")}, ping([]byte("after")))},
					[]item{textMsg("good")}, protoErr, nil))
		}
	}
	id := ider("4.7")
	cs = append(cs,
		failCase(id(), "reserved data opcode 0x3 between fragments of a text message",
			[]step{send1(frag(opText, false, []byte("frag1")), wframe{fin: true, op: 3}, frag(opCont, true, []byte("frag2")))}, nil, protoErr, nil),
		failCase(id(), "reserved control opcode 0xb between fragments of a text message",
			[]step{send1(frag(opText, false, []byte("frag1")), wframe{fin: true, op: 0xb}, frag(opCont, true, []byte("frag2")))}, nil, protoErr, nil),
	)
	return cs
}

// --- 5 fragmentation -----------------------------------------------------

func fragmentCases() []Case {
	id := ider("5")
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	both := textMsg("fragment1fragment2")
	twoFrags := []wframe{frag(opText, false, f1), frag(opCont, true, f2)}
	withPing := []wframe{frag(opText, false, f1), ping([]byte("between")), frag(opCont, true, f2)}
	contAlone := []wframe{frag(opCont, true, f1)}
	contOpen := []wframe{frag(opCont, false, f1)}
	oneByte := func(op byte, p []byte) []wframe { return fragments(op, p, 1) }
	big := textPayload(64 << 10)
	cs := []Case{
		failCase(id(), "ping in two fragments", []step{send1(frag(opPing, false, f1), frag(opCont, true, f2))}, nil, protoErr, nil),
		failCase(id(), "pong in two fragments", []step{send1(frag(opPong, false, f1), frag(opCont, true, f2))}, nil, protoErr, nil),
		echoCase(id(), "text in two fragments", []step{send1(twoFrags...)}, both),
		echoCase(id(), "text in two fragments, each its own write", []step{{frames: twoFrags, each: true}}, both),
		echoCase(id(), "text in two fragments, 1-byte writes", []step{chopped(1, twoFrags...)}, both),
		echoCase(id(), "text in two fragments with a ping between", []step{send1(withPing...)}, pong([]byte("between")), both),
		echoCase(id(), "text in two fragments with a ping between, each its own write", []step{{frames: withPing, each: true}}, pong([]byte("between")), both),
		echoCase(id(), "text in two fragments with a ping between, 1-byte writes", []step{chopped(1, withPing...)}, pong([]byte("between")), both),
		failCase(id(), "continuation (FIN=1) with no message to continue", []step{send1(contAlone...)}, nil, protoErr, nil),
		failCase(id(), "continuation (FIN=1) with no message to continue, 1-byte writes", []step{chopped(1, contAlone...)}, nil, protoErr, nil),
		failCase(id(), "continuation (FIN=0) with no message to continue", []step{send1(contOpen...)}, nil, protoErr, nil),
		failCase(id(), "continuation (FIN=0) with no message to continue, 1-byte writes", []step{chopped(1, contOpen...)}, nil, protoErr, nil),
		failCase(id(), "continuation FIN=0 with nothing to continue, then a text frame",
			[]step{send1(frag(opCont, false, f1), frag(opCont, true, f2), text("text"))}, nil, protoErr, nil),
		failCase(id(), "continuation FIN=1 with nothing to continue, then text fragments",
			[]step{send1(frag(opCont, true, f1), frag(opText, false, f2), frag(opCont, true, f1))}, nil, protoErr, nil),
		failCase(id(), "finished message, then a stray continuation",
			[]step{send1(twoFrags...), send1(frag(opCont, true, []byte("stray")), text("never"))}, []item{both}, protoErr, nil),
		failCase(id(), "text frame (FIN=0) followed by a new text frame",
			[]step{send1(frag(opText, false, f1), text("fragment2"))}, nil, protoErr, nil),
		failCase(id(), "binary frame (FIN=0) followed by a new text frame",
			[]step{send1(frag(opBinary, false, f1), frag(opText, true, f2))}, nil, protoErr, nil),
		failCase(id(), "text frame (FIN=0) followed by a new binary frame (FIN=0)",
			[]step{send1(frag(opText, false, f1), frag(opBinary, false, f2), frag(opCont, true, f1))}, nil, protoErr, nil),
		echoCase(id(), "text in five fragments with pings between, with pauses",
			[]step{send1(frag(opText, false, []byte("a"))), {frames: []wframe{ping([]byte("1"))}, pause: 20 * time.Millisecond},
				send1(frag(opCont, false, []byte("b")), ping([]byte("2"))), {frames: []wframe{frag(opCont, false, []byte("c"))}, pause: 20 * time.Millisecond},
				send1(frag(opCont, false, []byte("d")), ping([]byte("3")), frag(opCont, true, []byte("e")))},
			pong([]byte("1")), pong([]byte("2")), pong([]byte("3")), textMsg("abcde")),
		echoCase(id(), "text in five fragments with pings between, 1-byte writes",
			[]step{chopped(1, frag(opText, false, []byte("a")), ping([]byte("1")), frag(opCont, false, []byte("b")), ping([]byte("2")),
				frag(opCont, false, []byte("c")), frag(opCont, false, []byte("d")), ping([]byte("3")), frag(opCont, true, []byte("e")))},
			pong([]byte("1")), pong([]byte("2")), pong([]byte("3")), textMsg("abcde")),
		echoCase(id(), "binary in two fragments", []step{send1(frag(opBinary, false, binPayload(100)), frag(opCont, true, binPayload(7)))},
			msg(opBinary, append(binPayload(100), binPayload(7)...))),
		echoCase(id(), "text in 1-byte fragments", []step{send1(oneByte(opText, []byte("Hello, world!"))...)}, textMsg("Hello, world!")),
		echoCase(id(), "binary in 256 1-byte fragments", []step{send1(oneByte(opBinary, binPayload(256))...)}, msg(opBinary, binPayload(256))),
		echoCase(id(), "text with empty fragments around the data",
			[]step{send1(frag(opText, false, nil), frag(opCont, false, nil), frag(opCont, false, []byte("middle")), frag(opCont, true, nil))},
			textMsg("middle")),
		echoCase(id(), "empty first fragment (FIN=0), then a final continuation",
			[]step{send1(frag(opText, false, nil), frag(opCont, true, []byte("tail")))}, textMsg("tail")),
		echoCase(id(), "pong between fragments is ignored",
			[]step{send1(frag(opText, false, f1), pongF([]byte("unsolicited")), frag(opCont, true, f2))}, both),
		echoCase(id(), "64 KiB text in 1 KiB fragments", []step{send1(fragments(opText, big, 1024)...)}, msg(opText, big)),
		echoCase(id(), "4 KiB binary in 4096 1-byte fragments", []step{send1(oneByte(opBinary, binPayload(4096))...)}, msg(opBinary, binPayload(4096))),
		failCase(id(), "close in two fragments", []step{send1(frag(opClose, false, closePayload(1000, "")), frag(opCont, true, nil))}, nil, protoErr, nil),
		echoCase(id(), "two fragmented messages back to back",
			[]step{send1(frag(opText, false, f1), frag(opCont, true, f2), frag(opBinary, false, f2), frag(opCont, true, f1))},
			both, msg(opBinary, []byte("fragment2fragment1"))),
		failCase(id(), "good fragmented text, then a fragmented ping inside the next message",
			[]step{send1(twoFrags...), send1(frag(opText, false, f1), frag(opPing, false, []byte("p")), frag(opCont, true, f2))},
			[]item{both}, protoErr, nil),
	}
	return cs
}

// --- 6 UTF-8 -------------------------------------------------------------

type vector struct {
	name string
	b    []byte
}

func hexv(name, h string) vector {
	var b []byte
	for _, f := range strings.Fields(h) {
		v, err := strconv.ParseUint(f, 16, 8)
		if err != nil {
			panic("conform: bad vector " + name)
		}
		b = append(b, byte(v))
	}
	return vector{name, b}
}

func strv(name, s string) vector { return vector{name, []byte(s)} }

func cat(name string, parts ...[]byte) vector { return vector{name, bytes.Join(parts, nil)} }

var kosme = []byte("κόσμε")

func validVectors() []vector {
	ascii := make([]byte, 0, 128)
	for c := range 128 {
		ascii = append(ascii, byte(c))
	}
	return []vector{
		vector{"all ASCII 0x00-0x7F", ascii},
		strv("printable ASCII", "Hello, world! ~`!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/"),
		hexv("U+0080, the first 2-byte character", "c2 80"),
		hexv("U+07FF, the last 2-byte character", "df bf"),
		hexv("U+0800, the first 3-byte character", "e0 a0 80"),
		hexv("U+FFFF, the last 3-byte character", "ef bf bf"),
		hexv("U+10000, the first 4-byte character", "f0 90 80 80"),
		hexv("U+10FFFF, the last code point", "f4 8f bf bf"),
		hexv("U+D7FF, just below the surrogates", "ed 9f bf"),
		hexv("U+E000, just above the surrogates", "ee 80 80"),
		hexv("U+FFFD replacement character", "ef bf bd"),
		hexv("U+FFFE noncharacter (valid UTF-8)", "ef bf be"),
		hexv("U+FDD0 noncharacter (valid UTF-8)", "ef b7 90"),
		hexv("U+1F600 emoji", "f0 9f 98 80"),
		vector{"Greek κόσμε", kosme},
		strv("Hello-µ@ßöäüàá-UTF-8!!", "Hello-µ@ßöäüàá-UTF-8!!"),
		strv("CJK 日本語テキスト", "日本語テキスト"),
		strv("every width: a¢€𐍈", "a¢€𐍈"),
		hexv("NUL", "00"),
		strv("NUL between letters", "a\x00b"),
	}
}

func invalidVectors() []vector {
	var conts []byte
	for c := 0x80; c <= 0xbf; c++ {
		conts = append(conts, byte(c))
	}
	var lone []byte
	for c := 0xe0; c <= 0xef; c++ {
		lone = append(lone, byte(c), ' ')
	}
	return []vector{
		hexv("lone continuation byte 0x80", "80"),
		hexv("lone continuation byte 0xBF", "bf"),
		hexv("two continuation bytes", "80 bf"),
		cat("continuation byte after ASCII", []byte("ab"), []byte{0x80}, []byte("cd")),
		vector{"all 64 continuation bytes", conts},
		hexv("2-byte start byte followed by a space", "c2 20"),
		hexv("3-byte start byte followed by a space", "e1 20"),
		hexv("4-byte start byte followed by a space", "f1 20"),
		vector{"every 3-byte start byte followed by a space", lone},
		hexv("0xC0, never valid", "c0"),
		hexv("0xC1 0xBF, never valid", "c1 bf"),
		hexv("0xF5, above U+10FFFF", "f5 80 80 80"),
		hexv("5-byte form 0xF8", "f8 88 80 80 80"),
		hexv("6-byte form 0xFC", "fc 84 80 80 80 80"),
		hexv("0xFE", "fe"),
		hexv("0xFF", "ff"),
		hexv("0xFE 0xFE 0xFF 0xFF", "fe fe ff ff"),
		hexv("overlong '/' in 2 bytes", "c0 af"),
		hexv("overlong '/' in 3 bytes", "e0 80 af"),
		hexv("overlong '/' in 4 bytes", "f0 80 80 af"),
		hexv("largest overlong 2-byte", "c1 bf"),
		hexv("largest overlong 3-byte", "e0 9f bf"),
		hexv("largest overlong 4-byte", "f0 8f bf bf"),
		hexv("overlong NUL in 2 bytes", "c0 80"),
		hexv("overlong NUL in 3 bytes", "e0 80 80"),
		hexv("surrogate U+D800", "ed a0 80"),
		hexv("surrogate U+DB7F", "ed ad bf"),
		hexv("surrogate U+DBFF", "ed af bf"),
		hexv("surrogate U+DC00", "ed b0 80"),
		hexv("surrogate U+DFFF", "ed bf bf"),
		hexv("surrogate pair U+D800 U+DC00", "ed a0 80 ed b0 80"),
		hexv("U+110000, above U+10FFFF", "f4 90 80 80"),
		hexv("0xF7 0xBF 0xBF 0xBF (U+1FFFFF)", "f7 bf bf bf"),
		cat("2-byte sequence cut at the end", []byte("ab"), []byte{0xc2}),
		cat("3-byte sequence cut at the end", []byte("ab"), []byte{0xe0, 0xa0}),
		cat("4-byte sequence cut at the end", []byte("ab"), []byte{0xf0, 0x90, 0x80}),
		cat("3-byte sequence cut by ASCII", []byte{0xe2, 0x82}, []byte("a")),
		cat("κόσμε, surrogate U+D800, text", kosme, []byte{0xed, 0xa0, 0x80}, []byte("edited")),
		cat("κόσμε, U+110000, text", kosme, []byte{0xf4, 0x90, 0x80, 0x80}, []byte("edited")),
		hexv("cut sequences in a row", "c0 e0 80 f0 80 80 df ef bf"),
	}
}

func utf8Cases() []Case {
	id := ider("6.1")
	cs := []Case{
		echoCase(id(), "empty text message", []step{send1(text(""))}, textMsg("")),
		echoCase(id(), "empty text message in three empty fragments",
			[]step{send1(frag(opText, false, nil), frag(opCont, false, nil), frag(opCont, true, nil))}, textMsg("")),
		echoCase(id(), "empty fragments around a 3-byte character split across them",
			[]step{send1(frag(opText, false, nil), frag(opCont, false, []byte{0xe2, 0x82}), frag(opCont, false, nil), frag(opCont, true, []byte{0xac}))},
			textMsg("€")),
	}
	hello := []byte("Hello-µ@ßöäüàá-UTF-8!!")
	id = ider("6.2")
	cs = append(cs, echoCase(id(), "valid text split at every character", []step{send1(runeFragments(hello)...)}, msg(opText, hello)))
	for k := 1; k < len(hello); k++ {
		cs = append(cs, echoCase(id(), fmt.Sprintf("valid text split into two fragments at byte %d", k),
			[]step{send1(frag(opText, false, hello[:k]), frag(opCont, true, hello[k:]))}, msg(opText, hello)))
	}

	bad := cat("", kosme, []byte{0xed, 0xa0, 0x80}, []byte("edited")).b
	id = ider("6.3")
	cs = append(cs,
		failCase(id(), "invalid text (surrogate inside κόσμε…) in one frame", []step{send1(wframe{fin: true, op: opText, payload: bad})}, nil, invalidErr, nil),
		failCase(id(), "invalid text (surrogate inside κόσμε…) in 1-byte fragments", []step{send1(fragments(opText, bad, 1)...)}, nil, invalidErr, nil))

	// 6.4: fail fast. The fragment that makes the text invalid is sent,
	// and not the rest.
	over := []byte{0xf4, 0x90, 0x80, 0x80}
	id = ider("6.4")
	cs = append(cs,
		failFastCase(id(), "fail fast: valid fragment, fragment with U+110000, then the rest",
			[]step{send1(frag(opText, false, kosme), frag(opCont, false, over))}, []step{send1(frag(opCont, true, []byte("edited")))}, nil, invalidErr, nil),
		failFastCase(id(), "fail fast: 0xF4 ending fragment 1, 0x90 alone in fragment 2",
			[]step{send1(frag(opText, false, append(bytes.Clone(kosme), 0xf4)), frag(opCont, false, []byte{0x90}))},
			[]step{send1(frag(opCont, true, []byte("\x80\x80edited")))}, nil, invalidErr, nil),
		partialFrameCase(id(), "fail fast inside one frame: payload written up to the bad bytes, pause, rest",
			kosme, over, []byte("edited")),
		partialFrameCase(id(), "fail fast inside one frame: bad byte alone, pause, rest",
			append(bytes.Clone(kosme), 0xf4), []byte{0x90}, []byte("\x80\x80edited")),
	)

	valid := validVectors()
	whole, bytewise := ider("6.5"), ider("6.6")
	for _, v := range valid {
		cs = append(cs, echoCase(whole(), "valid UTF-8 in one frame: "+v.name,
			[]step{send1(wframe{fin: true, op: opText, payload: v.b})}, msg(opText, v.b)))
	}
	for _, v := range valid {
		cs = append(cs, echoCase(bytewise(), "valid UTF-8 in 1-byte fragments: "+v.name,
			[]step{send1(fragments(opText, v.b, 1)...)}, msg(opText, v.b)))
	}
	inv := invalidVectors()
	whole, bytewise, split := ider("6.7"), ider("6.8"), ider("6.9")
	for _, v := range inv {
		cs = append(cs, failCase(whole(), "invalid UTF-8 in one frame: "+v.name,
			[]step{send1(wframe{fin: true, op: opText, payload: v.b})}, nil, invalidErr, nil))
	}
	for _, v := range inv {
		fs := fragments(opText, v.b, 1)
		k := utf8Certain(v.b)
		desc := "invalid UTF-8 in 1-byte fragments: " + v.name
		if k >= len(v.b)-1 {
			cs = append(cs, failCase(bytewise(), desc, []step{send1(fs...)}, nil, invalidErr, nil))
			continue
		}
		cs = append(cs, failFastCase(bytewise(), desc+" (fail at byte "+strconv.Itoa(k)+")",
			[]step{send1(fs[:k+1]...)}, []step{send1(fs[k+1:]...)}, nil, invalidErr, nil))
	}
	for _, v := range inv {
		p := append(bytes.Clone(v.b), "-tail"...)
		k := utf8Certain(p)
		cs = append(cs, failFastCase(split(), fmt.Sprintf("invalid UTF-8 split after the bad byte %d: %s", k, v.name),
			[]step{send1(frag(opText, false, p[:k+1]))},
			[]step{send1(frag(opCont, false, p[k+1:]), frag(opCont, true, nil))}, nil, invalidErr, nil))
	}
	return cs
}

// runeFragments puts every character of p in its own fragment.
func runeFragments(p []byte) []wframe {
	var fs []wframe
	for i := 0; i < len(p); {
		n := 1
		for i+n < len(p) && p[i+n]&0xc0 == 0x80 {
			n++
		}
		op := opCont
		if i == 0 {
			op = opText
		}
		fs = append(fs, wframe{op: op, fin: i+n == len(p), payload: p[i : i+n]})
		i += n
	}
	return fs
}

// partialFrameCase writes one text frame in three parts: good, bad (which
// makes the text invalid) and rest, pausing after bad. A frame cannot
// carry a ping barrier in its middle, so the pause is the only signal: a
// server that fails within it is OK, one that fails after the rest is
// NON-STRICT.
func partialFrameCase(id, desc string, good, bad, rest []byte) Case {
	const window = time.Second
	return Case{ID: id, Description: desc, Expect: "fail with 1007 before the frame is complete", run: func(s *session) (Verdict, string) {
		p := bytes.Join([][]byte{good, bad, rest}, nil)
		wire := wframe{fin: true, op: opText, payload: p}.encode(nil)
		cut := len(wire) - len(rest)
		s.logf("> %s, written in parts: %d bytes, pause %v, %d bytes", describeW(wframe{fin: true, op: opText, payload: p}), cut, window, len(rest))
		s.write(wire[:cut], 0)
		got := s.nextWithin(window)
		if got.kind != itTimeout {
			return judgeEnd(s, got, invalidErr, nil)
		}
		s.write(wire[cut:], 0)
		v, d := judgeEnd(s, s.next(), invalidErr, nil)
		if v == OK {
			return NonStrict, fmt.Sprintf("did not fail within %v of the bad bytes; %s after the whole frame", window, d)
		}
		return v, d
	}}
}

// --- 7 close -------------------------------------------------------------

var (
	validCodes   = []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalidCodes = []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
)

func closeCases() []Case {
	id := ider("7.1")
	cs := []Case{
		echoCase(id(), "text message, then a normal close", []step{send1(text("Hello"))}, textMsg("Hello")),
		closeThen(id(), "close, then a second close", nil, closeF(1000, "again")),
		closeThen(id(), "close, then a ping", nil, ping([]byte("after close"))),
		closeThen(id(), "close, then a text message", nil, text("after close")),
		closeThen(id(), "text fragment, close, then the final fragment",
			[]wframe{frag(opText, false, []byte("fragment1"))}, frag(opCont, true, []byte("fragment2"))),
		closeThenBig(id()),
	}
	id = ider("7.3")
	long := strings.Repeat("r", 123)
	cs = append(cs,
		closeAnswer(id(), "close without payload", wframe{fin: true, op: opClose}, false, -1, ""),
		failCase(id(), "close with a 1-byte payload", []step{send1(wframe{fin: true, op: opClose, payload: []byte{0x03}})}, nil, protoErr, nil),
		closeAnswer(id(), "close 1000 without reason", closeF(1000, ""), false, 1000, ""),
		closeAnswer(id(), "close 1000 with reason \"Hello World!\"", closeF(1000, "Hello World!"), false, 1000, "Hello World!"),
		closeAnswer(id(), "close 1000 with a 123-byte reason (payload of 125)", closeF(1000, long), false, 1000, long),
		failCase(id(), "close 1000 with a 124-byte reason (payload of 126)", []step{send1(closeF(1000, long+"r"))}, nil, protoErr, nil),
		closeAnswer(id(), "close 1000 in 1-byte writes", closeF(1000, "chopped"), true, 1000, "chopped"),
	)
	id = ider("7.5")
	cs = append(cs,
		failCase(id(), "close reason with a surrogate (invalid UTF-8)",
			[]step{send1(wframe{fin: true, op: opClose, payload: append(closePayload(1000, "κόσμε"), 0xed, 0xa0, 0x80)})}, nil, invalidErr, protoErr),
		failCase(id(), "close reason cut inside a character",
			[]step{send1(wframe{fin: true, op: opClose, payload: append(closePayload(1000, "ab"), 0xe2, 0x82)})}, nil, invalidErr, protoErr),
		failCase(id(), "close reason with 0xFF",
			[]step{send1(wframe{fin: true, op: opClose, payload: append(closePayload(1000, ""), 0xff)})}, nil, invalidErr, protoErr),
	)
	id = ider("7.7")
	for _, c := range validCodes {
		cs = append(cs, closeAnswer(id(), fmt.Sprintf("close with valid code %d", c), closeF(c, ""), false, c, ""))
	}
	id = ider("7.9")
	for _, c := range invalidCodes {
		cs = append(cs, failCase(id(), fmt.Sprintf("close with invalid code %d", c), []step{send1(closeF(c, ""))}, nil, protoErr, nil))
	}
	return cs
}

// closeThen sends pre, a close 1000 and then after in one write: the
// server must echo nothing of after (RFC 6455 §5.5.1: nothing is processed
// after a close frame), answer the close and close TCP.
func closeThen(id, desc string, pre []wframe, after wframe) Case {
	return Case{ID: id, Description: desc, Expect: "close answered, what follows it ignored, TCP closed", run: func(s *session) (Verdict, string) {
		fs := append(append(append([]wframe(nil), pre...), closeF(1000, "")), after)
		s.send(send1(fs...))
		return judgeCloseReply(s, 1000)
	}}
}

// judgeCloseReply expects the server's answer to a close with code sent.
func judgeCloseReply(s *session, code int) (Verdict, string) {
	got := s.next()
	if got.kind == itEOF && strings.Contains(got.detail, "reset") {
		// A server that closes with our trailing frames unread makes its
		// kernel send RST and drop what it had queued: the close answer
		// is lost on the way, through the server's abortive close.
		return NonStrict, "connection reset before a close answer arrived (server closed with input unread)"
	}
	if got.kind != itClose {
		return Failed, "expected a close answer, got " + got.String()
	}
	v, d := OK, ""
	switch got.code {
	case code:
	case 1000, -1:
		if code != 1000 && code != -1 {
			d = fmt.Sprintf("answered %d with %s (the RFC says typically the code is echoed)", code, got)
		}
	default:
		v, d = Failed, fmt.Sprintf("answered close %d with %s", code, got)
	}
	if !s.awaitEOF() {
		return Failed, strings.TrimPrefix(d+"; server did not close TCP after the close handshake", "; ")
	}
	return v, d
}

// closeAnswer sends one close frame and expects it answered with code
// (-1: no status or 1000), and TCP closed by the server.
func closeAnswer(id, desc string, f wframe, chop bool, code int, reason string) Case {
	return Case{ID: id, Description: desc, Expect: "close answered, TCP closed by the server", run: func(s *session) (Verdict, string) {
		st := send1(f)
		if chop {
			st.chop = 1
		}
		s.send(st)
		v, d := judgeCloseReply(s, code)
		if v == OK && d == "" && reason != "" {
			d = "reason not echoed (allowed)"
			for _, l := range s.trace {
				if strings.HasPrefix(l, "< close") && strings.Contains(l, quote([]byte(reason))) {
					d = "reason echoed"
				}
			}
		}
		return v, d
	}}
}

func closeThenBig(id string) Case {
	p := textPayload(256 << 10)
	return Case{ID: id, Description: "256 KiB text, close, then a ping, in one write", Expect: "text echoed, close answered, no pong", run: func(s *session) (Verdict, string) {
		s.send(send1(wframe{fin: true, op: opText, payload: p}, closeF(1000, ""), ping([]byte("after close"))))
		if got, err := s.expectAll([]item{msg(opText, p)}); err != nil {
			if got.kind == itEOF && strings.Contains(got.detail, "reset") {
				// As Autobahn's 7.1.6: a server that closes with the ping
				// unread resets the connection, and its kernel drops the
				// echo it had not sent yet. Legal, if unkind.
				return Informational, "connection reset before the echo arrived (server closed with input unread)"
			}
			return Failed, err.Error()
		}
		return judgeCloseReply(s, 1000)
	}}
}

// --- 9 size and speed ----------------------------------------------------

func sizeCases() []Case {
	var cs []Case
	kinds := []struct {
		op   byte
		name string
		gen  func(int) []byte
	}{{opText, "text", textPayload}, {opBinary, "binary", binPayload}}
	for i, k := range kinds {
		id := ider("9." + strconv.Itoa(1+i))
		for _, n := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20} {
			p := k.gen(n)
			cs = append(cs, timedEcho(id(), fmt.Sprintf("%s message of %s in one frame", k.name, sizeName(n)),
				[]step{send1(wframe{fin: true, op: k.op, payload: p})}, msg(k.op, p), 1))
		}
	}
	for i, k := range kinds {
		id := ider("9." + strconv.Itoa(3+i))
		p := k.gen(4 << 20)
		for _, fsz := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			cs = append(cs, timedEcho(id(), fmt.Sprintf("%s message of 4 MiB in %s fragments", k.name, sizeName(fsz)),
				[]step{send1(fragments(k.op, p, fsz)...)}, msg(k.op, p), 1))
		}
	}
	for i, k := range kinds {
		id := ider("9." + strconv.Itoa(5+i))
		p := k.gen(1 << 20)
		for _, chop := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10} {
			cs = append(cs, timedEcho(id(), fmt.Sprintf("%s message of 1 MiB written in %s pieces", k.name, sizeName(chop)),
				[]step{chopped(chop, wframe{fin: true, op: k.op, payload: p})}, msg(k.op, p), 1))
		}
	}
	for i, k := range kinds {
		id := ider("9." + strconv.Itoa(7+i))
		for _, n := range []int{0, 16, 64, 256, 1 << 10, 4 << 10} {
			p := k.gen(n)
			cs = append(cs, timedEcho(id(), fmt.Sprintf("1000 %s messages of %s, one round trip each", k.name, sizeName(n)),
				[]step{send1(wframe{fin: true, op: k.op, payload: p})}, msg(k.op, p), 1000))
		}
	}
	return cs
}

// timedEcho repeats (steps, expect want) rounds times and reports the
// time taken.
func timedEcho(id, desc string, steps []step, want item, rounds int) Case {
	return Case{ID: id, Description: desc, Expect: "echoed; time reported", run: func(s *session) (Verdict, string) {
		start := time.Now()
		for r := range rounds {
			if r > 0 && len(s.trace) > 8 {
				s.dropped += len(s.trace) - 8
				s.trace = s.trace[:8]
			}
			s.send(steps...)
			if got, err := s.expectAll([]item{want}); err != nil {
				if got.kind == itClose && got.code == 1009 {
					return Failed, err.Error() + " (raise the server's limit to 32 MiB)"
				}
				return Failed, fmt.Sprintf("round %d: %v", r+1, err)
			}
		}
		el := time.Since(start)
		v, d := s.closeNormally()
		if v != OK {
			return v, d
		}
		total := float64(len(want.data)) * float64(rounds)
		if rounds > 1 {
			return OK, fmt.Sprintf("%v per round trip", (el / time.Duration(rounds)).Round(time.Microsecond))
		}
		return OK, fmt.Sprintf("echoed in %v (%.0f MB/s each way)", el.Round(time.Microsecond), total/el.Seconds()/1e6)
	}}
}

// --- 10 misc -------------------------------------------------------------

func miscCases() []Case {
	id := ider("10.1")
	p := textPayload(65536)
	cs := []Case{
		echoCase(id(), "64 KiB text in one frame, written in 1300-byte pieces", []step{chopped(1300, wframe{fin: true, op: opText, payload: p})}, msg(opText, p)),
	}
	id = ider("10.2")
	var many []wframe
	var manyWant []item
	for i := range 100 {
		s := "message " + strconv.Itoa(i)
		many = append(many, text(s))
		manyWant = append(manyWant, textMsg(s))
	}
	cs = append(cs,
		echoCase(id(), "text, binary, ping and text in one write",
			[]step{send1(text("one"), binaryF([]byte{2}), ping([]byte("three")), text("four"))},
			textMsg("one"), msg(opBinary, []byte{2}), pong([]byte("three")), textMsg("four")),
		echoCase(id(), "100 text messages in one write", []step{send1(many...)}, manyWant...),
	)
	id = ider("10.3")
	cs = append(cs,
		handshakeCase(id(), "handshake written in 1-byte writes", handshakeOpts{chop: 1}, 101),
		handshakeCase(id(), "handshake with Connection: keep-alive, Upgrade", handshakeOpts{connection: "keep-alive, Upgrade"}, 101),
		handshakeCase(id(), "handshake with extra headers (Origin, User-Agent, Cookie)",
			handshakeOpts{extra: [][2]string{{"Origin", "http://127.0.0.1"}, {"User-Agent", "rawws-conform"}, {"Cookie", "a=b"}}}, 101),
		handshakeCase(id(), "handshake with Sec-WebSocket-Version: 8 (must be refused)", handshakeOpts{version: "8"}, 426),
	)
	return cs
}

// handshakeCase runs a varied handshake. want 101: the connection must
// then echo a message and close cleanly. want 426: the server must refuse
// (426 OK, another 4xx NON-STRICT, 101 FAILED).
func handshakeCase(id, desc string, o handshakeOpts, want int) Case {
	c := Case{ID: id, Description: desc, Expect: fmt.Sprintf("status %d", want)}
	c.hs = func(t target, timeout time.Duration) (Verdict, string, []string) {
		s, status, err := dial(t, timeout, o)
		tr := []string{fmt.Sprintf("> handshake %+v", o), fmt.Sprintf("< status %d", status)}
		if err != nil {
			return Failed, err.Error(), tr
		}
		if s != nil {
			defer s.close()
		}
		switch {
		case want == 101 && status == 101:
			s.send(send1(text("after handshake")))
			if got, err := s.expectAll([]item{textMsg("after handshake")}); err != nil {
				return Failed, fmt.Sprintf("%v (%s)", err, got), append(tr, s.traceLines()...)
			}
			v, d := s.closeNormally()
			return v, d, append(tr, s.traceLines()...)
		case status == want:
			return OK, fmt.Sprintf("status %d", status), tr
		case want != 101 && status >= 400 && status < 500:
			return NonStrict, fmt.Sprintf("status %d, want %d", status, want), tr
		}
		return Failed, fmt.Sprintf("status %d, want %d", status, want), tr
	}
	return c
}
