package conform

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rawws/rawws/internal/deflate"
)

// Sections 12 and 13 negotiate permessage-deflate (RFC 7692) and exchange
// compressed messages; they run only with Options.Deflate. Section 12 uses
// the browsers' offer (context takeover both ways) over sizes from 16 B to
// 1 MiB, text and binary, whole and fragmented, plus the ways a peer can
// break the extension; section 13 repeats sizes under each takeover and
// window-size combination. The runner compresses every message it sends
// (at level 6, so even small ones hold back-references) and inflates
// whatever the server compresses; the server may answer uncompressed.

// browserOffer is what browsers send: "permessage-deflate;
// client_max_window_bits". Sections 12's cases use it; 13.1 tries the bare
// offer.
var browserOffer = deflate.Settings{ClientMaxWindowBits: 15}

// deflateSizes are the message sizes of section 12 (the last is heavy).
var deflateSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

// deflateParamSizes are section 13's sizes; each runs whole and fragmented.
var deflateParamSizes = []int{16, 256, 4 << 10, 64 << 10, 1 << 20}

// deflateCombos are the offers of section 13.
var deflateCombos = []struct {
	desc string
	s    deflate.Settings
}{
	{"context takeover both ways", deflate.Settings{}},
	{"client_no_context_takeover", deflate.Settings{ClientNoContextTakeover: true}},
	{"server_no_context_takeover", deflate.Settings{ServerNoContextTakeover: true}},
	{"no context takeover either way", deflate.Settings{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
	{"client_max_window_bits offered", deflate.Settings{ClientMaxWindowBits: 15}},
	{"client_max_window_bits=9", deflate.Settings{ClientMaxWindowBits: 9}},
	{"server_max_window_bits=10", deflate.Settings{ServerMaxWindowBits: 10}},
	{"server_max_window_bits=8; client_max_window_bits=8", deflate.Settings{ServerMaxWindowBits: 8, ClientMaxWindowBits: 8}},
	{"server_max_window_bits=15; client_no_context_takeover", deflate.Settings{ServerMaxWindowBits: 15, ClientNoContextTakeover: true}},
}

// deflatePayload makes message i of a case: JSON-like text, or binary
// that mixes records with random bytes.
func deflatePayload(r *rand.Rand, binary bool, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if binary {
			b.Write([]byte{0, 1, 2, 3, byte(i), 0xff, 0xfe})
			for range 9 {
				b.WriteByte(byte(r.Uint32()))
			}
			continue
		}
		fmt.Fprintf(&b, `{"seq":%d,"user":"user%02d","price":%d.%02d,"side":"%s"},`,
			i, r.IntN(40), r.IntN(1000), r.IntN(100), [2]string{"buy", "sell"}[r.IntN(2)])
	}
	return b.Bytes()[:n]
}

// deflateCount is how many messages a case sends: enough for context
// takeover to matter, at most ~4 MiB in all.
func deflateCount(size int) int { return max(1, min(10, (4<<20)/size)) }

func deflateSizeCases() []Case {
	var cs []Case
	kinds := []struct {
		desc         string
		binary, frag bool
	}{
		{desc: "text", binary: false, frag: false},
		{desc: "text, fragmented", binary: false, frag: true},
		{desc: "binary", binary: true, frag: false},
		{desc: "binary, fragmented", binary: true, frag: true},
	}
	for k, kind := range kinds {
		id := ider("12." + strconv.Itoa(k+1))
		for _, size := range deflateSizes {
			n := deflateCount(size)
			desc := fmt.Sprintf("permessage-deflate: %d compressed %s messages of %s", n, kind.desc, sizeName(size))
			cs = append(cs, deflateEchoCase(id(), desc, browserOffer, kind.binary, kind.frag, size))
		}
	}
	return append(cs, deflateFailCases()...)
}

func deflateParamCases() []Case {
	var cs []Case
	for k, combo := range deflateCombos {
		id := ider("13." + strconv.Itoa(k+1))
		for _, size := range deflateParamSizes {
			for _, frag := range []bool{false, true} {
				how := "whole"
				if frag {
					how = "fragmented"
				}
				desc := fmt.Sprintf("offer %s: %d compressed text messages of %s, %s", combo.desc, deflateCount(size), sizeName(size), how)
				cs = append(cs, deflateEchoCase(id(), desc, combo.s, false, frag, size))
			}
		}
	}
	return cs
}

// deflateDial opens a case's connection with the offer of s and sets up
// the inflater for what the server agreed to. The caller closes s.
func deflateDial(t target, timeout time.Duration, offer deflate.Settings) (*session, deflate.Params, string, error) {
	var ext string
	s, status, err := dial(t, timeout, handshakeOpts{
		extra:      [][2]string{{"Sec-WebSocket-Extensions", deflate.Offer(offer)}},
		extensions: &ext,
	})
	switch {
	case err != nil:
		return nil, deflate.Params{}, ext, err
	case status != 101:
		return nil, deflate.Params{}, ext, fmt.Errorf("handshake answered %d", status)
	}
	p, ok, err := deflate.ParseResponse(ext, offer)
	if err == nil && !ok {
		err = fmt.Errorf("server did not accept %q (no Sec-WebSocket-Extensions in the 101)", deflate.Offer(offer))
	}
	if err != nil {
		s.close()
		return nil, p, ext, err
	}
	s.inflater = deflate.NewDecompressor(p, false, 64<<20)
	s.logf("  offered %q, server answered %q", deflate.Offer(offer), ext)
	return s, p, ext, nil
}

// compressedFrames compresses m with c and frames it: one frame, or the
// compressed bytes cut into four fragments (RSV1 on the first only, RFC
// 7692 §6.1). A message the compressor declines goes out plain.
func compressedFrames(c *deflate.Compressor, op byte, m []byte, frag bool) []wframe {
	z, ok, err := c.Compress(nil, m)
	rsv := byte(0x40)
	if err != nil || !ok {
		z, rsv = m, 0
	}
	if !frag || len(z) < 4 {
		return []wframe{{fin: true, rsv: rsv, op: op, payload: z}}
	}
	var fs []wframe
	piece := (len(z) + 3) / 4
	for i := 0; i < len(z); i += piece {
		f := wframe{op: opCont, payload: z[i:min(len(z), i+piece)]}
		if i == 0 {
			f.op, f.rsv = op, rsv
		}
		fs = append(fs, f)
	}
	fs[len(fs)-1].fin = true
	return fs
}

// deflateEchoCase sends deflateCount(size) compressed messages under the
// offer of settings and expects each echoed, then a clean close.
func deflateEchoCase(id, desc string, offer deflate.Settings, binary, frag bool, size int) Case {
	offer.Level, offer.Threshold = 6, -1
	op := opText
	if binary {
		op = opBinary
	}
	return Case{ID: id, Description: desc, deflate: true,
		Expect: "negotiate permessage-deflate within the offer; echo every message; clean close",
		hs: func(t target, timeout time.Duration) (Verdict, string, []string) {
			s, p, ext, err := deflateDial(t, timeout, offer)
			if err != nil {
				return Failed, err.Error(), nil
			}
			defer s.close()
			c := deflate.NewCompressor(offer, p, false)
			defer c.Release()
			r := rand.New(rand.NewPCG(uint64(size), uint64(len(id))))
			n := deflateCount(size)
			var want []item
			for range n {
				m := deflatePayload(r, binary, size)
				want = append(want, msg(op, m))
				s.send(step{frames: compressedFrames(c, op, m, frag)})
			}
			if got, err := s.expectAll(want); err != nil {
				if got.kind == itClose && got.code == 1009 {
					return Failed, err.Error() + " (message too big for the server: raise its limit to 32 MiB)", s.traceLines()
				}
				return Failed, err.Error(), s.traceLines()
			}
			v, d := s.closeNormally()
			if v == OK {
				d = fmt.Sprintf("negotiated %q; server compressed %d of %d echoes", ext, s.compressed, n)
			}
			return v, d, s.traceLines()
		}}
}

// deflateFailCases (12.5) break the extension's rules after a successful
// negotiation; the server must fail the connection.
func deflateFailCases() []Case {
	id := ider("12.5")
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00} // "Hello", RFC 7692 §7.2.3.1
	// Latin-1 "é" is one byte 0xe9: compressed, it inflates to invalid UTF-8.
	badText := func(c *deflate.Compressor) []byte {
		z, _, _ := c.Compress(nil, []byte("caf\xe9 au lait, caf\xe9 au lait"))
		return z
	}
	// Each 1 MiB of zeros is compressed on its own and the sync-flushed
	// pieces laid end to end: 128 MiB once inflated, ~130 KB on the wire.
	bomb := func() []byte {
		c := deflate.NewCompressor(deflate.Settings{Level: 9, Threshold: -1, ServerNoContextTakeover: true, ClientNoContextTakeover: true}, deflate.Params{}, false)
		z, _, _ := c.Compress(nil, make([]byte, 1<<20))
		z = append(z, 0x00, 0x00, 0xff, 0xff)
		return bytes.Repeat(z, 128)[:len(z)*128-4]
	}
	type failSpec struct {
		desc    string
		frames  func(c *deflate.Compressor) []wframe
		prefix  []item
		codes   []int
		lenient []int
	}
	specs := []failSpec{
		{"RSV1 on a continuation frame of a compressed message", func(*deflate.Compressor) []wframe {
			return []wframe{{rsv: 0x40, op: opText, payload: hello[:3]}, {fin: true, rsv: 0x40, op: opCont, payload: hello[3:]}}
		}, nil, protoErr, nil},
		{"RSV1 on a ping", func(*deflate.Compressor) []wframe {
			return []wframe{{fin: true, rsv: 0x40, op: opPing, payload: hello}}
		}, nil, protoErr, nil},
		{"compressed message that is not DEFLATE data", func(*deflate.Compressor) []wframe {
			return []wframe{{fin: true, rsv: 0x40, op: opBinary, payload: []byte{0xff, 0xff, 0xff, 0xff, 0x00}}}
		}, nil, invalidErr, protoErr},
		{"compressed text that inflates to invalid UTF-8", func(c *deflate.Compressor) []wframe {
			return []wframe{{fin: true, rsv: 0x40, op: opText, payload: badText(c)}}
		}, nil, invalidErr, nil},
		{"valid message, then a compressed message inflating to 128 MiB of zeros", func(*deflate.Compressor) []wframe {
			return []wframe{{fin: true, rsv: 0x40, op: opText, payload: hello}, {fin: true, rsv: 0x40, op: opBinary, payload: bomb()}}
		}, []item{textMsg("Hello")}, []int{codeTooBig}, nil},
	}
	var cs []Case
	for _, sp := range specs {
		cs = append(cs, Case{ID: id(), Description: "permessage-deflate: " + sp.desc, deflate: true,
			Expect: expectFail(sp.prefix, sp.codes),
			hs: func(t target, timeout time.Duration) (Verdict, string, []string) {
				offer := browserOffer
				offer.Threshold = -1
				s, p, _, err := deflateDial(t, timeout, offer)
				if err != nil {
					return Failed, err.Error(), nil
				}
				defer s.close()
				c := deflate.NewCompressor(offer, p, false)
				defer c.Release()
				s.send(step{frames: sp.frames(c)})
				v, d := judgeFailure(s, sp.prefix, sp.codes, sp.lenient)
				return v, d, s.traceLines()
			}})
	}
	return cs
}
