package deflate

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzInflate feeds arbitrary bytes as one compressed message, whole and in
// two pieces: it must never panic, must stop at the size limit, must give
// the same answer either way, and must report only ErrCorrupt or ErrTooBig.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, uint16(3), true)
	f.Add([]byte{0xf2, 0x00, 0x11, 0x00, 0x00}, uint16(1), true)
	f.Add([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, uint16(5), false)
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, uint16(0), false)
	f.Add([]byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}, uint16(7), true)
	f.Add([]byte{0x00}, uint16(0), false)
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, in []byte, split uint16, takeover bool) {
		p := Params{ClientNoContextTakeover: !takeover}
		whole, err1 := NewDecompressor(p, true, limit).AppendDecompress(nil, in)
		d := NewDecompressor(p, true, limit)
		k := int(split) % (len(in) + 1)
		_, werr := d.Write(in[:k])
		if werr == nil {
			_, werr = d.Write(in[k:])
		}
		var b bytes.Buffer
		var err2 error
		if werr != nil {
			err2 = werr
		} else {
			_, err2 = d.Inflate(&b)
		}
		for _, err := range []error{err1, err2} {
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooBig) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole: %v; in pieces: %v", err1, err2)
		}
		if err1 == nil && !bytes.Equal(whole, b.Bytes()) {
			t.Fatal("pieces inflate differently")
		}
		if len(whole) > limit || b.Len() > limit {
			t.Fatalf("output %d/%d passes the limit", len(whole), b.Len())
		}
		if err1 == nil && takeover {
			// A valid message must also survive our own round trip.
			c := NewCompressor(Settings{Threshold: -1}, Params{}, true)
			z, ok, err := c.Compress(nil, whole)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			back, err := NewDecompressor(Params{}, false, limit).AppendDecompress(nil, z)
			if err != nil || !bytes.Equal(back, whole) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

// FuzzNegotiate runs arbitrary header values through both sides: never a
// panic; whatever the server accepts, it answers with a response that a
// client making the same offer accepts; re-parsing the server's own
// response yields the parameters it agreed to.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
		`permessage-deflate; client_max_window_bits="12", x-webkit-deflate-frame`,
		"permessage-deflate; server_max_window_bits=7, permessage-deflate",
		"permessage-deflate;;",
		`permessage-deflate; a="\"`,
	} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, header string, knobs uint8) {
		s := Settings{
			ServerNoContextTakeover: knobs&1 != 0,
			ClientNoContextTakeover: knobs&2 != 0,
			ServerMaxWindowBits:     int(knobs>>2&3) * 4, // 0, 4 (ignored), 8, 12
			ClientMaxWindowBits:     int(knobs>>4&3) * 5, // 0, 5 (ignored), 10, 15
		}
		p, resp, ok := Accept(header, s)
		if !ok {
			if resp != "" || p != (Params{}) {
				t.Fatal("declined with a response")
			}
		} else {
			back, _, err := ParseResponse(resp, Settings{ClientMaxWindowBits: 15, ServerMaxWindowBits: p.ServerMaxWindowBits,
				ServerNoContextTakeover: p.ServerNoContextTakeover})
			if err != nil {
				t.Fatalf("own response %q refused: %v", resp, err)
			}
			if back.ServerNoContextTakeover != p.ServerNoContextTakeover || back.ServerMaxWindowBits != p.ServerMaxWindowBits {
				t.Fatalf("response %q parsed as %+v, agreed %+v", resp, back, p)
			}
		}
		if _, _, err := ParseResponse(header, s); err != nil && !errors.Is(err, ErrBadResponse) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
