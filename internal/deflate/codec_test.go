package deflate

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// jsonish makes a JSON-like text message of about n bytes: repetitive keys,
// varying values, as chat or market-data traffic looks.
func jsonish(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"user%03d","price":%d.%02d,"side":"%s","tags":["a","b%d"]}`,
			r.IntN(1e6), r.IntN(500), r.IntN(1000), r.IntN(100), [2]string{"buy", "sell"}[r.IntN(2)], r.IntN(9))
	}
	b.WriteByte(']')
	return b.Bytes()[:n]
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRFC7692Examples(t *testing.T) {
	hello := []byte("Hello")
	tests := []struct {
		name     string
		takeover bool
		msgs     [][]byte
	}{
		// §7.2.3.1: "Hello" compressed in one message.
		{"hello", false, [][]byte{{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}},
		// §7.2.3.2: the second message refers into the first one's window.
		{"shared window", true, [][]byte{{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, {0xf2, 0x00, 0x11, 0x00, 0x00}}},
		// §7.2.3.3: a stored (uncompressed) DEFLATE block.
		{"stored block", false, [][]byte{{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}}},
		// §7.2.3.4: a block with BFINAL set.
		{"bfinal", false, [][]byte{{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}}},
		// §7.2.3.5: two DEFLATE blocks in one message.
		{"two blocks", false, [][]byte{{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecompressor(Params{ClientNoContextTakeover: !tt.takeover}, true, 1<<20)
			for i, m := range tt.msgs {
				got, err := d.AppendDecompress(nil, m)
				if err != nil || !bytes.Equal(got, hello) {
					t.Fatalf("message %d: %q, %v; want Hello", i, got, err)
				}
			}
		})
	}
	// Our compressor's encoding is its own choice (for "Hello" a stored
	// block is as valid as the RFC's fixed-Huffman one); what matters is
	// that it inflates back and that, with takeover, a repeated message
	// shrinks into back-references to the first one's window (§7.2.3.2).
	msg := []byte(`{"type":"quote","symbol":"RAWWS","bid":101.25,"ask":101.27,"venue":"XNAS"}`)
	c := NewCompressor(Settings{Level: 6, Threshold: -1}, Params{}, true)
	first, ok, err := c.Compress(nil, msg)
	if err != nil || !ok {
		t.Fatalf("Compress = % x, %v, %v", first, ok, err)
	}
	second, ok, err := c.Compress(nil, msg)
	if err != nil || !ok || len(second) >= len(first)/2 {
		t.Fatalf("second Compress = % x (%d bytes, first %d), %v, %v; want back-references", second, len(second), len(first), ok, err)
	}
	d := NewDecompressor(Params{}, false, 0)
	for _, m := range [][]byte{first, second} {
		if got, err := d.AppendDecompress(nil, m); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("inflate % x = %q, %v", m, got, err)
		}
	}
	// The shared-window message cannot be read without the window.
	if _, err := NewDecompressor(Params{}, false, 0).AppendDecompress(nil, second); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("back-reference without window: %v, want ErrCorrupt", err)
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var msgs [][]byte
	for i := 0; i < 40; i++ {
		var n int
		switch i % 4 {
		case 0:
			n = r.IntN(200)
		case 1:
			n = 1024
		case 2:
			n = r.IntN(8 << 10)
		default:
			n = r.IntN(40<<10) + 30<<10 // past the 32 KiB window
		}
		if i%7 == 3 {
			msgs = append(msgs, randomBytes(r, n))
		} else {
			msgs = append(msgs, jsonish(r, n))
		}
	}
	msgs = append(msgs, nil, []byte{}, bytes.Repeat([]byte("ab"), 40<<10))
	for _, level := range []int{0, 9, -2} {
		for _, srvTake := range []bool{true, false} {
			for _, cliTake := range []bool{true, false} {
				name := fmt.Sprintf("level%d/server-takeover=%v/client-takeover=%v", level, srvTake, cliTake)
				t.Run(name, func(t *testing.T) {
					client := Settings{Level: level, Threshold: -1, ServerNoContextTakeover: !srvTake, ClientNoContextTakeover: !cliTake}
					sp, resp, ok := Accept(Offer(client), Settings{Level: level, Threshold: -1})
					if !ok {
						t.Fatal("declined")
					}
					cp, _, err := ParseResponse(resp, client)
					if err != nil {
						t.Fatal(err)
					}
					// client → server and server → client.
					roundTrip(t, msgs, NewCompressor(client, cp, false), NewDecompressor(sp, true, 1<<20))
					roundTrip(t, msgs, NewCompressor(Settings{Level: level, Threshold: -1}, sp, true), NewDecompressor(cp, false, 1<<20))
				})
			}
		}
	}
}

func roundTrip(t *testing.T, msgs [][]byte, c *Compressor, d *Decompressor) {
	t.Helper()
	var wire, plain int
	for i, m := range msgs {
		z, ok, err := c.Compress(nil, m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !ok {
			if c.Takeover() {
				t.Fatalf("message %d: takeover compressor declined", i)
			}
			continue
		}
		wire += len(z)
		plain += len(m)
		got, err := d.AppendDecompress(nil, z)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("message %d (%d bytes): got %d bytes, %v", i, len(m), len(got), err)
		}
	}
	if plain > 0 && wire >= plain {
		t.Fatalf("compression grew %d bytes to %d", plain, wire)
	}
	c.Release()
	d.Release()
}

// TestPieces checks fragmentation independence: the compressed bytes of
// each message fed in arbitrary pieces (single bytes included) inflate to
// the same message, and the window carries over between messages.
func TestPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := NewCompressor(Settings{Threshold: -1}, Params{}, false)
	d := NewDecompressor(Params{}, true, 1<<20)
	for i := 0; i < 40; i++ {
		m := jsonish(r, 1+r.IntN(20000))
		z, ok, err := c.Compress(nil, m)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		for rest := z; len(rest) > 0; {
			k := 1 + r.IntN(len(rest))
			if i%5 == 0 {
				k = 1
			}
			if _, err := d.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		var got []byte
		if i%2 == 0 {
			got, err = d.AppendInflate(nil)
		} else {
			var b bytes.Buffer
			_, err = d.Inflate(&b)
			got = b.Bytes()
		}
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("message %d: %v", i, err)
		}
		if d.Buffered() != 0 {
			t.Fatal("buffer not released")
		}
	}
}

// countingWriter records how much it was given.
type countingWriter struct{ n, calls int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	w.calls++
	return len(p), nil
}

func TestBomb(t *testing.T) {
	const limit = 1 << 20
	c := NewCompressor(Settings{Level: 9, Threshold: -1}, Params{}, false)
	z, _, err := c.Compress(nil, make([]byte, 10<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10 MiB of zeros compress to %d bytes", len(z))
	d := NewDecompressor(Params{}, true, limit)
	if _, err := d.Write(z); err != nil {
		t.Fatal(err)
	}
	var w countingWriter
	n, err := d.Inflate(&w)
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("Inflate: %v, want ErrTooBig", err)
	}
	if n > limit+ChunkSize || w.n > limit {
		t.Fatalf("inflated %d bytes and handed on %d for a %d limit", n, w.n, limit)
	}
	// The slice form stops as well and returns dst as it was.
	dst := []byte("keep")
	got, err := d.AppendDecompress(dst, z)
	if !errors.Is(err, ErrTooBig) || string(got) != "keep" || cap(got) > 2*limit+ChunkSize+4096 {
		t.Fatalf("AppendDecompress: %q (cap %d), %v", got[:min(len(got), 8)], cap(got), err)
	}
	// Exactly at the limit is fine.
	d.SetMaxMessage(limit)
	z, _, _ = c.Compress(nil, make([]byte, limit))
	if got, err := d.AppendDecompress(nil, z); err != nil || len(got) != limit {
		t.Fatalf("message at the limit: %d, %v", len(got), err)
	}
}

func TestCompressedSizeBound(t *testing.T) {
	// Empty stored blocks inflate to nothing however many there are: the
	// compressed bytes alone must be bounded.
	d := NewDecompressor(Params{}, true, 1000)
	empty := []byte{0x00, 0x00, 0x00, 0xff, 0xff}
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = d.Write(empty)
	}
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("Write: %v, want ErrTooBig", err)
	}
	if d.Buffered() != 0 {
		t.Fatal("message not discarded")
	}
}

func TestCorrupt(t *testing.T) {
	for _, in := range [][]byte{
		{0xff, 0xff, 0xff},
		{0x07},             // reserved block type
		{0x00, 0x05, 0x00}, // stored block cut short
		{0x02, 0x13, 0x00}, // match with no window
	} {
		d := NewDecompressor(Params{}, true, 1<<20)
		if _, err := d.AppendDecompress(nil, in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("% x: %v, want ErrCorrupt", in, err)
		}
	}
}

func TestCompressDeclines(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name string
		s    Settings
		p    Params
		msg  []byte
		want bool
	}{
		{"below default threshold", Settings{}, Params{}, jsonish(r, DefaultThreshold-1), false},
		{"at default threshold", Settings{}, Params{}, jsonish(r, 1000), true},
		{"custom threshold", Settings{Threshold: 2000}, Params{}, jsonish(r, 1000), false},
		{"incompressible without takeover", Settings{}, Params{ServerNoContextTakeover: true}, randomBytes(r, 4000), false},
		{"window 9 small message", Settings{}, Params{ServerMaxWindowBits: 9}, jsonish(r, 512), true},
		{"window 9 large message", Settings{}, Params{ServerMaxWindowBits: 9}, jsonish(r, 513), false},
		{"window 9 huffman-only ignores window", Settings{Level: -2}, Params{ServerMaxWindowBits: 9}, jsonish(r, 5000), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCompressor(tt.s, tt.p, true)
			out, ok, err := c.Compress([]byte("x"), tt.msg)
			if err != nil || ok != tt.want {
				t.Fatalf("Compress = %v, %v; want %v", ok, err, tt.want)
			}
			if !ok && string(out) != "x" {
				t.Fatal("dst changed on decline")
			}
			if ok && !bytes.HasPrefix(out, []byte("x")) {
				t.Fatal("dst prefix lost")
			}
		})
	}
	if NewCompressor(Settings{}, Params{ServerMaxWindowBits: 12}, true).Takeover() {
		t.Fatal("a small window must disable context takeover")
	}
	if NewCompressor(Settings{ClientMaxWindowBits: 10}, Params{}, false).Takeover() {
		t.Fatal("a client that offered a small window must not take over")
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := rand.New(rand.NewPCG(7, 8))
	msg := jsonish(r, 4096)
	for _, take := range []bool{true, false} {
		p := Params{ServerNoContextTakeover: !take}
		z := make([]byte, 0, 8192)
		out := make([]byte, 0, 8192)
		c := NewCompressor(Settings{}, p, true)
		c.Compress(z, msg) // warm the pool
		compress := testing.AllocsPerRun(50, func() { c.Compress(z, msg) })
		// A fresh pair for the round trip: a takeover stream must be
		// inflated message by message as it was compressed.
		c, d := NewCompressor(Settings{}, p, true), NewDecompressor(p, false, 1<<20)
		step := func() {
			zz, _, _ := c.Compress(z, msg)
			if _, err := d.AppendDecompress(out, zz); err != nil {
				t.Fatal(err)
			}
		}
		step()
		inflate := testing.AllocsPerRun(50, step) - compress
		if compress > 0 {
			t.Errorf("takeover=%v: Compress makes %.1f allocations per message, want 0", take, compress)
		}
		// The DEFLATE implementation may allocate per dynamic Huffman block
		// (compress/flate does, klauspost's does not); this package adds
		// none of its own.
		if inflate > maxInflateAllocs {
			t.Errorf("takeover=%v: inflating makes %.1f allocations per message, want <= %d", take, inflate, maxInflateAllocs)
		}
	}
}

func TestLevelClamp(t *testing.T) {
	for in, want := range map[int]int{0: 1, 1: 1, 9: 9, 12: 9, -1: -1, -2: -2, -5: 1} {
		if got := (Settings{Level: in}).level(); got != want {
			t.Errorf("level(%d) = %d, want %d", in, got, want)
		}
	}
	if !strings.Contains(Offer(Settings{}), ExtensionName) {
		t.Fatal("offer lacks the extension name")
	}
}
