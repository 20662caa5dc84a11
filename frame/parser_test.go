package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// rfcExamples are the frames of RFC 6455 §5.7 with their headers.
var rfcExamples = []struct {
	name    string
	wire    []byte // header and the start of the payload
	hdrLen  int
	want    Header
	payload string // unmasked, when it is text
}{
	{"unmasked text Hello", []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, 2,
		Header{Fin: true, Opcode: OpText, Length: 5}, "Hello"},
	{"masked text Hello", []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, 6,
		Header{Fin: true, Opcode: OpText, Masked: true, Key: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5}, "Hello"},
	{"fragment Hel", []byte{0x01, 0x03, 0x48, 0x65, 0x6c}, 2,
		Header{Opcode: OpText, Length: 3}, "Hel"},
	{"fragment lo", []byte{0x80, 0x02, 0x6c, 0x6f}, 2,
		Header{Fin: true, Opcode: OpContinuation, Length: 2}, "lo"},
	{"unmasked ping Hello", []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, 2,
		Header{Fin: true, Opcode: OpPing, Length: 5}, "Hello"},
	{"masked pong Hello", []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, 6,
		Header{Fin: true, Opcode: OpPong, Masked: true, Key: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5}, "Hello"},
	{"256 bytes binary", []byte{0x82, 0x7e, 0x01, 0x00}, 4,
		Header{Fin: true, Opcode: OpBinary, Length: 256}, ""},
	{"64 KiB binary", []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, 10,
		Header{Fin: true, Opcode: OpBinary, Length: 65536}, ""},
}

func TestParseRFCExamples(t *testing.T) {
	for _, tc := range rfcExamples {
		t.Run(tc.name, func(t *testing.T) {
			var p Parser
			n, done, err := p.Parse(tc.wire)
			if err != nil || !done || n != tc.hdrLen {
				t.Fatalf("Parse = %d, %v, %v; want %d, true, nil", n, done, err, tc.hdrLen)
			}
			h := p.Header()
			if h != tc.want {
				t.Fatalf("Header = %+v, want %+v", h, tc.want)
			}
			if tc.payload == "" {
				return
			}
			pl := append([]byte(nil), tc.wire[n:]...)
			if h.Masked {
				for i := range pl {
					pl[i] ^= h.Key[i&3]
				}
			}
			if string(pl) != tc.payload {
				t.Fatalf("payload %q, want %q", pl, tc.payload)
			}
		})
	}
}

// feed gives b to p in the chunks that cuts (increasing offsets) delimit,
// as a reader would, and returns the totals.
func feed(t testing.TB, p *Parser, b []byte, cuts []int) (n int, done bool, err error) {
	start := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(b)
		if i < len(cuts) {
			end = cuts[i]
		}
		k, d, e := p.Parse(b[start:end])
		n += k
		if d || e != nil {
			return n, d, e
		}
		if k != end-start {
			t.Fatalf("Parse consumed %d of %d bytes without finishing", k, end-start)
		}
		start = end
	}
	return n, false, nil
}

func randHeader(r *rand.Rand) Header {
	ops := []Opcode{OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong}
	h := Header{Opcode: ops[r.IntN(len(ops))], Fin: r.IntN(2) == 1, Masked: r.IntN(2) == 1}
	if h.Opcode.IsControl() {
		h.Fin = true
		h.Length = r.Int64N(126)
	} else {
		h.Rsv = byte(r.IntN(8)) << 4
		switch r.IntN(4) {
		case 0:
			h.Length = r.Int64N(126)
		case 1:
			h.Length = 126 + r.Int64N(0x10000-126)
		case 2:
			h.Length = 0x10000 + r.Int64N(1<<40)
		default:
			h.Length = []int64{0, 125, 126, 0xffff, 0x10000, 1<<63 - 1}[r.IntN(6)]
		}
	}
	if h.Masked {
		binary.LittleEndian.PutUint32(h.Key[:], r.Uint32())
	}
	return h
}

func TestParseEncodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, MaxHeaderSize+3)
	for i := 0; i < 20000; i++ {
		h := randHeader(r)
		n := PutHeader(buf, h)
		if n != HeaderSize(h) {
			t.Fatalf("%+v: PutHeader wrote %d, HeaderSize %d", h, n, HeaderSize(h))
		}
		p := Parser{AllowedRsv: 0x70}
		// Trailing payload bytes must be left alone.
		m, done, err := p.Parse(buf[:n+r.IntN(4)])
		if err != nil || !done || m != n {
			t.Fatalf("%+v: Parse(% x) = %d, %v, %v", h, buf[:n], m, done, err)
		}
		if got := p.Header(); got != h {
			t.Fatalf("round trip %+v -> % x -> %+v", h, buf[:n], got)
		}
	}
}

// TestParseSplits checks that every way of cutting a header into two or
// three chunks, and byte-at-a-time feeding, gives what one call gives:
// for valid headers, headers cut short and invalid ones.
func TestParseSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var inputs [][]byte
	for i := 0; i < 300; i++ {
		h := randHeader(r)
		b := AppendHeader(nil, h)
		inputs = append(inputs, append(b, 0xaa, 0xbb))
		inputs = append(inputs, b[:r.IntN(len(b))])
	}
	for _, tc := range invalidHeaders {
		inputs = append(inputs, tc.wire)
	}
	for _, b := range inputs {
		cfg := Parser{MaxFrameSize: 1 << 20, Masking: MaskPolicy(r.IntN(3))}
		whole := cfg
		wn, wdone, werr := whole.Parse(b)
		check := func(how string, cuts []int) {
			t.Helper()
			p := cfg
			n, done, err := feed(t, &p, b, cuts)
			if n != wn || done != wdone || !errors.Is(err, werr) || p.Header() != whole.Header() {
				t.Fatalf("% x %s %v: (%d, %v, %v, %+v); at once (%d, %v, %v, %+v)",
					b, how, cuts, n, done, err, p.Header(), wn, wdone, werr, whole.Header())
			}
		}
		var ones []int
		for i := 1; i < len(b); i++ {
			ones = append(ones, i)
			check("split", []int{i})
			for j := i; j < len(b); j++ {
				check("split3", []int{i, j})
			}
		}
		check("bytewise", ones)
	}
}

// invalidHeaders are headers a conforming peer never sends, with the close
// code and the number of bytes after which the parser must know.
var invalidHeaders = []struct {
	name string
	cfg  Parser
	wire []byte
	code CloseCode
	n    int
}{
	{"reserved opcode 3", Parser{}, []byte{0x83, 0x00}, CloseProtocolError, 1},
	{"reserved opcode 7", Parser{}, []byte{0x87, 0x00}, CloseProtocolError, 1},
	{"reserved opcode B", Parser{}, []byte{0x8b, 0x00}, CloseProtocolError, 1},
	{"reserved opcode F no FIN", Parser{}, []byte{0x0f, 0x00}, CloseProtocolError, 1},
	{"fragmented close", Parser{}, []byte{0x08, 0x00}, CloseProtocolError, 1},
	{"fragmented ping", Parser{}, []byte{0x09, 0x00}, CloseProtocolError, 1},
	{"fragmented pong", Parser{}, []byte{0x0a, 0x00}, CloseProtocolError, 1},
	{"RSV1 not negotiated", Parser{}, []byte{0xc1, 0x00}, CloseProtocolError, 1},
	{"RSV2", Parser{AllowedRsv: 0x40}, []byte{0xa1, 0x00}, CloseProtocolError, 1},
	{"RSV3", Parser{AllowedRsv: 0x40}, []byte{0x91, 0x00}, CloseProtocolError, 1},
	{"ping 126 bytes", Parser{}, []byte{0x89, 0x7e, 0x00, 0x7e}, CloseProtocolError, 2},
	{"close 64-bit length", Parser{}, []byte{0x88, 0x7f, 0, 0, 0, 0, 0, 0, 0, 1}, CloseProtocolError, 2},
	{"pong masked 126", Parser{}, []byte{0x8a, 0xfe, 0x00, 0x00, 1, 2, 3, 4}, CloseProtocolError, 2},
	{"64-bit top bit", Parser{}, []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, CloseProtocolError, 3},
	{"64-bit all ones", Parser{}, []byte{0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, CloseProtocolError, 3},
	{"unmasked to server", Parser{Masking: MaskRequired}, []byte{0x81, 0x05}, CloseProtocolError, 2},
	{"masked to client", Parser{Masking: MaskForbidden}, []byte{0x81, 0x85, 1, 2, 3, 4}, CloseProtocolError, 2},
	{"too big 7-bit", Parser{MaxFrameSize: 100}, []byte{0x82, 0x65}, CloseTooBig, 2},
	{"too big 16-bit", Parser{MaxFrameSize: 1000}, []byte{0x82, 0xfe, 0x03, 0xe9, 1, 2, 3, 4}, CloseTooBig, 4},
	{"too big 64-bit", Parser{MaxFrameSize: 1 << 20}, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 1}, CloseTooBig, 10},
	{"too big 64-bit masked", Parser{MaxFrameSize: 1 << 20}, []byte{0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, CloseTooBig, 10},
	{"too big beats key", Parser{MaxFrameSize: 1, Masking: MaskRequired}, []byte{0x82, 0x82}, CloseTooBig, 2},
	{"RSV before mask policy", Parser{Masking: MaskRequired}, []byte{0xc2, 0x02}, CloseProtocolError, 1},
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidHeaders {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.cfg
			n, done, err := p.Parse(tc.wire)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code || done || n != tc.n {
				t.Fatalf("Parse(% x) = %d, %v, %v; want %d, false, code %d", tc.wire, n, done, err, tc.n, tc.code)
			}
			if len(pe.Reason) > MaxCloseText {
				t.Fatalf("reason %q longer than a close frame allows", pe.Reason)
			}
			// Sticky until Reset.
			if n2, d2, err2 := p.Parse([]byte{0x81, 0x00}); n2 != 0 || d2 || err2 != err {
				t.Fatalf("after failure Parse = %d, %v, %v", n2, d2, err2)
			}
			p.Reset()
			p.Masking, p.MaxFrameSize = MaskAny, 0 // a config change between frames applies
			if n2, d2, err2 := p.Parse([]byte{0x82, 0x80, 1, 2, 3, 4}); err2 != nil || !d2 || n2 != 6 {
				t.Fatalf("after Reset Parse = %d, %v, %v", n2, d2, err2)
			}
		})
	}
}

// TestParseFirstByteTable checks the generated first-byte table against the
// Opcode methods frame.go defines by hand.
func TestParseFirstByteTable(t *testing.T) {
	for b := 0; b < 256; b++ {
		op := Opcode(b & 0x0f)
		want := uint8(0)
		switch {
		case op.IsReserved():
			want = 1
		case op.IsControl() && b&0x80 == 0:
			want = 2
		}
		if b0Class[b] != want {
			t.Errorf("b0Class[%#02x] = %d, want %d", b, b0Class[b], want)
		}
	}
}

func TestParseValidEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Parser
		wire []byte
		want Header
	}{
		{"non-minimal 16-bit length", Parser{}, []byte{0x82, 0x7e, 0x00, 0x05}, Header{Fin: true, Opcode: OpBinary, Length: 5}},
		{"non-minimal 64-bit length", Parser{}, []byte{0x02, 0x7f, 0, 0, 0, 0, 0, 0, 0, 7}, Header{Opcode: OpBinary, Length: 7}},
		{"largest length", Parser{}, []byte{0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}},
		{"length at the limit", Parser{MaxFrameSize: 1000}, []byte{0x82, 0x7e, 0x03, 0xe8}, Header{Fin: true, Opcode: OpBinary, Length: 1000}},
		{"control of 125", Parser{}, []byte{0x88, 0x7d}, Header{Fin: true, Opcode: OpClose, Length: 125}},
		{"RSV1 negotiated", Parser{AllowedRsv: 0x40}, []byte{0xc1, 0x00}, Header{Fin: true, Rsv: 0x40, Opcode: OpText}},
		{"masked to server", Parser{Masking: MaskRequired}, []byte{0x81, 0x80, 9, 8, 7, 6}, Header{Fin: true, Opcode: OpText, Masked: true, Key: [4]byte{9, 8, 7, 6}}},
		{"unmasked to client", Parser{Masking: MaskForbidden}, []byte{0x81, 0x00}, Header{Fin: true, Opcode: OpText}},
		{"negative limit is none", Parser{MaxFrameSize: -1}, []byte{0x82, 0x7f, 0, 0, 1, 0, 0, 0, 0, 0}, Header{Fin: true, Opcode: OpBinary, Length: 1 << 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.cfg
			n, done, err := p.Parse(tc.wire)
			if err != nil || !done || n != len(tc.wire) || p.Header() != tc.want {
				t.Fatalf("Parse = %d, %v, %v, %+v; want %d, true, nil, %+v", n, done, err, p.Header(), len(tc.wire), tc.want)
			}
		})
	}
}

func TestParseSequence(t *testing.T) {
	// Headers back to back with payloads, as a reader sees them; the
	// previous header stays readable while the next is half parsed.
	var stream []byte
	var want []Header
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50; i++ {
		h := randHeader(r)
		h.Length %= 300
		if h.Opcode.IsControl() && h.Length > 125 {
			h.Length = 125
		}
		want = append(want, h)
		stream = AppendHeader(stream, h)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, int(h.Length))...)
	}
	p := Parser{AllowedRsv: 0x70}
	var got []Header
	for off := 0; off < len(stream); {
		end := min(len(stream), off+1+r.IntN(5))
		n, done, err := p.Parse(stream[off:end])
		if err != nil {
			t.Fatal(err)
		}
		off += n
		if done {
			got = append(got, p.Header())
			off += int(p.Header().Length)
		} else if len(got) > 0 && p.Header() != got[len(got)-1] {
			t.Fatalf("Header changed while the next one is half parsed")
		}
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d headers, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("header %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseEmpty(t *testing.T) {
	var p Parser
	if n, done, err := p.Parse(nil); n != 0 || done || err != nil {
		t.Fatalf("Parse(nil) = %d, %v, %v", n, done, err)
	}
	if n, done, err := p.Parse([]byte{0x81}); n != 1 || done || err != nil {
		t.Fatalf("Parse(1 byte) = %d, %v, %v", n, done, err)
	}
	if n, done, err := p.Parse(nil); n != 0 || done || err != nil {
		t.Fatalf("Parse(nil) mid-header = %d, %v, %v", n, done, err)
	}
	p.Reset()
	if n, done, err := p.Parse([]byte{0x82, 0x00}); n != 2 || !done || err != nil || p.Header().Opcode != OpBinary {
		t.Fatalf("after Reset mid-header: %d, %v, %v, %+v", n, done, err, p.Header())
	}
}

func TestParseAllocs(t *testing.T) {
	frames := [][]byte{
		{0x81, 0x05}, {0x82, 0x7e, 0x01, 0x00}, {0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4},
		{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, {0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4},
	}
	var p Parser
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			p.Parse(f)
			for i := range f { // the slow path too
				p.Parse(f[i : i+1])
			}
		}
		p.Parse([]byte{0x83, 0x00}) // and failing
		p.Reset()
	})
	if allocs != 0 {
		t.Fatalf("Parse allocates %v times per run", allocs)
	}
}

// refParse is a plain reading of RFC 6455 §5.2 for one header, written
// independently of the generated parser: it returns what Parse must
// return when given all of b at once.
func refParse(b []byte, max int64, rsv byte, pol MaskPolicy) (n int, done bool, code CloseCode, h Header) {
	if len(b) == 0 {
		return 0, false, 0, h
	}
	op := Opcode(b[0] & 0x0f)
	control := op >= 8
	switch {
	case b[0]&0x70&^rsv != 0:
		return 1, false, CloseProtocolError, h
	case op.IsReserved():
		return 1, false, CloseProtocolError, h
	case control && b[0]&0x80 == 0:
		return 1, false, CloseProtocolError, h
	}
	h = Header{Fin: b[0]&0x80 != 0, Rsv: b[0] & 0x70, Opcode: op}
	if len(b) < 2 {
		return 1, false, 0, h
	}
	h.Masked = b[1]&0x80 != 0
	if (pol == MaskRequired && !h.Masked) || (pol == MaskForbidden && h.Masked) {
		return 2, false, CloseProtocolError, h
	}
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126, 127:
		if control {
			return 2, false, CloseProtocolError, h
		}
		size := 2
		if l == 127 {
			size = 8
			if len(b) > 2 && b[2] >= 0x80 {
				return 3, false, CloseProtocolError, h
			}
		}
		if len(b) < 2+size {
			return len(b), false, 0, h
		}
		var v uint64
		for _, c := range b[2 : 2+size] {
			v = v*256 + uint64(c)
		}
		h.Length = int64(v)
		n += size
	default:
		h.Length = int64(l)
	}
	if max > 0 && h.Length > max {
		return n, false, CloseTooBig, h
	}
	if h.Masked {
		if len(b) < n+4 {
			return len(b), false, 0, h
		}
		copy(h.Key[:], b[n:n+4])
		n += 4
	}
	return n, true, 0, h
}

func FuzzParseHeader(f *testing.F) {
	for _, tc := range rfcExamples {
		f.Add(tc.wire, int64(0), byte(0), byte(0), uint64(0))
	}
	for _, tc := range invalidHeaders {
		f.Add(tc.wire, tc.cfg.MaxFrameSize, tc.cfg.AllowedRsv, byte(tc.cfg.Masking), uint64(0x0102030405))
	}
	f.Fuzz(func(t *testing.T, b []byte, max int64, rsv byte, pol byte, cutSeed uint64) {
		cfg := Parser{MaxFrameSize: max, AllowedRsv: rsv, Masking: MaskPolicy(pol % 3)}
		rn, rdone, rcode, rh := refParse(b, max, rsv, cfg.Masking)

		// Cut b at points drawn from cutSeed.
		r := rand.New(rand.NewPCG(cutSeed, 0))
		var cuts []int
		for at := 0; len(b) > 0; {
			at += 1 + r.IntN(4)
			if at >= len(b) {
				break
			}
			cuts = append(cuts, at)
		}
		for _, c := range [][]int{nil, cuts} {
			p := cfg
			n, done, err := feed(t, &p, b, c)
			var code CloseCode
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *ProtocolError", err)
				}
				code = pe.Code
			}
			if n != rn || done != rdone || code != rcode {
				t.Fatalf("% x cuts %v cfg %+v: Parse (%d, %v, %d), reference (%d, %v, %d)",
					b, c, cfg, n, done, code, rn, rdone, rcode)
			}
			if done && p.Header() != rh {
				t.Fatalf("% x: header %+v, reference %+v", b, p.Header(), rh)
			}
		}
	})
}
