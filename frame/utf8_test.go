package frame

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// refFirstInvalid is the index of the first byte of b after which b cannot
// be the start of a valid UTF-8 text, or -1; complete reports whether b
// ends on a character boundary. It is built on unicode/utf8 alone.
func refFirstInvalid(b []byte) (bad int, complete bool) {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		// b[i:] starts with an invalid or truncated sequence: the longest
		// prefix of it that is still the start of some character decides.
		j := 1
		for ; j <= 3 && i+j <= len(b) && !utf8.FullRune(b[i:i+j]); j++ {
		}
		// b[i:i+j-1] can still become a character; b[i+j-1] cannot extend it.
		if i+j-1 == len(b) {
			return -1, false // truncated at the end: not invalid yet
		}
		return i + j - 1, false
	}
	return -1, true
}

var utf8Cases = []struct {
	name string
	in   string
	bad  int // first invalid byte, -1 if none
	done bool
}{
	{"empty", "", -1, true},
	{"ascii", "hello, world", -1, true},
	{"two byte", "\u00e9", -1, true},
	{"three byte", "\u20ac", -1, true},
	{"four byte", "\U0001f30d", -1, true},
	{"max", "\U0010ffff", -1, true},
	{"last before surrogates", "\ud7ff", -1, true},
	{"first after surrogates", "\ue000", -1, true},
	{"replacement char", "\ufffd", -1, true},
	{"truncated 2", "a\xc3", -1, false},
	{"truncated 3", "a\xe2\x82", -1, false},
	{"truncated 4", "\xf0\x9f\x8c", -1, false},
	{"lone continuation", "ab\x80", 2, false},
	{"C0 at once", "a\xc0\x80", 1, false},
	{"C1 at once", "\xc1", 0, false},
	{"F5 at once", "\xf5\x80\x80\x80", 0, false},
	{"FF at once", "\xff", 0, false},
	{"surrogate at second byte", "\xed\xa0\x80", 1, false},
	{"surrogate high end", "xx\xed\xbf\xbf", 3, false},
	{"above max at second byte", "\xf4\x90\x80\x80", 1, false},
	{"overlong 3 at second byte", "\xe0\x80\x80", 1, false},
	{"overlong 3 edge", "\xe0\x9f\xbf", 1, false},
	{"overlong 4 at second byte", "\xf0\x8f\xbf\xbf", 1, false},
	{"missing continuation", "\xe2\x82a", 2, false},
	{"ascii then bad in a long run", strings.Repeat("a", 70) + "\xff" + strings.Repeat("b", 40), 70, false},
	{"multibyte run then bad", strings.Repeat("жж€", 10) + "\xe2\x28", 71, false},
	{"bad after a long valid block", strings.Repeat("€", 9) + "\xc3\xc3", 28, false},
}

func TestUTF8Cases(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			if bad, done := refFirstInvalid(b); bad != tc.bad || done != tc.done {
				t.Fatalf("reference says (%d, %v); the table (%d, %v)", bad, done, tc.bad, tc.done)
			}
			var v UTF8
			n, ok := v.Feed(b)
			if ok != (tc.bad < 0) || (!ok && n != tc.bad) || (ok && n != len(b)) {
				t.Fatalf("Feed = %d, %v; want bad at %d", n, ok, tc.bad)
			}
			if v.Complete() != tc.done {
				t.Fatalf("Complete = %v, want %v", v.Complete(), tc.done)
			}
			if got := ValidUTF8(b); got != (tc.bad < 0 && tc.done) {
				t.Fatalf("ValidUTF8 = %v", got)
			}
		})
	}
}

// checkUTF8Splits feeds b cut at every point (and byte by byte) and
// compares with the reference.
func checkUTF8Splits(t *testing.T, b []byte, everySplit bool) {
	t.Helper()
	bad, complete := refFirstInvalid(b)
	if ValidUTF8(b) != (bad < 0 && complete) || ValidUTF8(b) != utf8.Valid(b) {
		t.Fatalf("% x: ValidUTF8 = %v, utf8.Valid = %v", b, ValidUTF8(b), utf8.Valid(b))
	}
	run := func(cuts []int) {
		t.Helper()
		var v UTF8
		start, at := 0, -1
		for i := 0; i <= len(cuts); i++ {
			end := len(b)
			if i < len(cuts) {
				end = cuts[i]
			}
			n, ok := v.Feed(b[start:end])
			if !ok {
				at = start + n
				break
			}
			if n != end-start {
				t.Fatalf("% x cuts %v: Feed ok with n=%d of %d", b, cuts, n, end-start)
			}
			start = end
		}
		if at != bad {
			t.Fatalf("% x cuts %v: invalid at %d, reference %d", b, cuts, at, bad)
		}
		if (at < 0 && v.Complete()) != utf8.Valid(b) {
			t.Fatalf("% x cuts %v: Feed and Complete say valid=%v, utf8.Valid %v", b, cuts, at < 0 && v.Complete(), utf8.Valid(b))
		}
		if bad < 0 && v.Complete() != complete {
			t.Fatalf("% x cuts %v: Complete %v, reference %v", b, cuts, v.Complete(), complete)
		}
		if bad >= 0 {
			if n, ok := v.Feed([]byte("a")); ok || n != 0 || v.Complete() {
				t.Fatalf("% x: not sticky after failure", b)
			}
		}
	}
	run(nil)
	var ones []int
	for i := 1; i < len(b); i++ {
		ones = append(ones, i)
		if everySplit {
			run([]int{i})
		}
	}
	run(ones)
}

func TestUTF8Splits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"a", "hello ", "é", "€", "🌍", "\U0010ffff", "\xed\x9f\xbf", "\xff", "\xc0", "\xed\xa0", "\xf4\x90", "\xe0\x9f", "\x80", "\xf0\x9f", strings.Repeat("x", 33)}
	for _, tc := range utf8Cases {
		checkUTF8Splits(t, []byte(tc.in), true)
	}
	for i := 0; i < 2000; i++ {
		var b []byte
		for k := r.IntN(12); k >= 0; k-- {
			p := pieces[r.IntN(len(pieces))]
			if r.IntN(4) != 0 {
				p = pieces[r.IntN(6)] // mostly valid, so the bad byte lands anywhere
			}
			b = append(b, p...)
		}
		checkUTF8Splits(t, b, true)
	}
}

// TestUTF8Exhaustive runs every sequence of up to two bytes, and every
// three-byte sequence starting at or above 0xC0, through Feed and the
// reference, at the three positions of a word that matter to the fast path.
func TestUTF8Exhaustive(t *testing.T) {
	var v UTF8
	check := func(b []byte) {
		bad, complete := refFirstInvalid(b)
		v.Reset()
		n, ok := v.Feed(b)
		if ok != (bad < 0) || (!ok && n != bad) || (ok && v.Complete() != complete) {
			t.Fatalf("% x: Feed = %d, %v, Complete %v; reference %d, %v", b, n, ok, v.Complete(), bad, complete)
		}
	}
	buf := make([]byte, 0, 16)
	for c0 := 0; c0 < 256; c0++ {
		for c1 := 0; c1 < 256; c1++ {
			check(append(buf[:0], byte(c0), byte(c1)))
			check(append(append(buf[:0], "1234567"...), byte(c0), byte(c1)))
			if c0 < 0xc0 || testing.Short() {
				continue
			}
			for c2 := 0x70; c2 < 0xd0; c2++ { // the interesting third bytes
				check(append(buf[:0], byte(c0), byte(c1), byte(c2)))
			}
		}
	}
}

func TestUTF8LongTexts(t *testing.T) {
	texts := map[string][]byte{
		"ascii": bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 100),
		"mixed": mixedText(4096),
		"cjk":   bytes.Repeat([]byte("日本語のテキストです。"), 100),
	}
	for name, b := range texts {
		if !ValidUTF8(b) {
			t.Fatalf("%s: not valid", name)
		}
		// One bad byte at every position of the first 300 bytes.
		for i := 0; i < 300; i++ {
			c := append([]byte(nil), b...)
			c[i] = 0xff
			bad, _ := refFirstInvalid(c)
			var v UTF8
			if n, ok := v.Feed(c); ok || n != bad {
				t.Fatalf("%s with 0xFF at %d: Feed = %d, %v; reference %d", name, i, n, ok, bad)
			}
		}
	}
}

// TestUTF8Windows aims at the two-chain windows of utf8Run: long texts of
// mostly multi-byte characters, stray continuation bytes and bad bytes at
// every offset, so character boundaries fall on every position of a window.
func TestUTF8Windows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	pieces := []string{"\U0001f30d", "\u20ac", "\u00e9", "a", "\U0010ffff", "\xed\x9f\xbf"}
	bad := []string{"\x80", "\xbf", "\xc0", "\xf5", "\xed\xa0", "\xf4\x90", "\xe2\x82", "\xf0\x9f\x8c"}
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		var b []byte
		for len(b) < 35+r.IntN(120) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		if r.IntN(3) != 0 {
			at := r.IntN(len(b))
			b = append(b[:at:at], append([]byte(bad[r.IntN(len(bad))]), b[at:]...)...)
		}
		want, complete := refFirstInvalid(b)
		var v UTF8
		got, ok := v.Feed(b)
		if ok != (want < 0) || (!ok && got != want) || (ok && v.Complete() != complete) {
			t.Fatalf("% x: Feed = %d, %v; reference %d, complete %v", b, got, ok, want, complete)
		}
		if ValidUTF8(b) != utf8.Valid(b) {
			t.Fatalf("% x: ValidUTF8 = %v", b, ValidUTF8(b))
		}
	}
}

func TestUTF8Allocs(t *testing.T) {
	b := mixedText(1000)
	var v UTF8
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		v.Feed(b[:333])
		v.Feed(b[333:])
		v.Complete()
		ValidUTF8(b)
	})
	if allocs != 0 {
		t.Fatalf("UTF8 allocates %v times per run", allocs)
	}
}

// mixedText returns n bytes (or a few less, to end on a character) of
// mostly-ASCII text with Latin, Cyrillic, CJK and emoji mixed in.
func mixedText(n int) []byte {
	const s = "Hello, мир! Café crème, 你好世界, naïve résumé 🌍🚀 — «quotes» ok. "
	b := bytes.Repeat([]byte(s), n/len(s)+1)[:n]
	for !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return b
}

func FuzzUTF8(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 256 {
			b = b[:256] // every split point is quadratic
		}
		checkUTF8Splits(t, b, true)
	})
}
