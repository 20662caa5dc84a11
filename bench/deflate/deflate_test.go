package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	kpflate "github.com/klauspost/compress/flate"
)

// impl is one DEFLATE implementation behind the calls the codec makes.
type impl struct {
	name      string
	newWriter func(w io.Writer, level int) (writer, error)
	newReader func(r io.Reader, dict []byte) reader
}

type writer interface {
	io.Writer
	Flush() error
	Reset(io.Writer)
}

type reader interface {
	io.Reader
	Reset(r io.Reader, dict []byte) error
}

var impls = []impl{
	{"std",
		func(w io.Writer, level int) (writer, error) { return stdflate.NewWriter(w, level) },
		func(r io.Reader, dict []byte) reader { return stdflate.NewReaderDict(r, dict).(reader) }},
	{"klauspost",
		func(w io.Writer, level int) (writer, error) { return kpflate.NewWriter(w, level) },
		func(r io.Reader, dict []byte) reader { return kpflate.NewReaderDict(r, dict).(reader) }},
}

// Payloads: 64 distinct messages per kind and size, cycled, so context
// takeover sees realistic repetition rather than one message resent.
func jsonMsg(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"user%03d","price":%d.%02d,"side":"%s","ts":%d}`,
			r.IntN(1e6), r.IntN(500), r.IntN(1000), r.IntN(100), [2]string{"buy", "sell"}[r.IntN(2)], 1700000000000+r.IntN(1e9))
	}
	return b.Bytes()[:n]
}

var words = strings.Fields(`the of and to in is was that for on with as by at from his her this which
or an be are have it not had were but they their one all would there been has when who will more if
no out so said what up its about into than them can only other new some could time these two may then
do first any my now such like our over man me even most made after also did many before must through
back years where much your way well down should because each just those people how too little state
good very make world still own see men work long get here between both life being under never day same`)

func textMsg(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(". ")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func payloads(kind string, n int) [][]byte {
	r := rand.New(rand.NewPCG(uint64(n), uint64(len(kind))))
	out := make([][]byte, 64)
	for i := range out {
		if kind == "json" {
			out[i] = jsonMsg(r, n)
		} else {
			out[i] = textMsg(r, n)
		}
	}
	return out
}

type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

// compressor mirrors internal/deflate.Compressor.
type compressor struct {
	w        writer
	out      appender
	takeover bool
}

func (c *compressor) compress(dst, msg []byte) []byte {
	c.out.b = dst
	if !c.takeover {
		c.w.Reset(&c.out)
	}
	c.w.Write(msg)
	c.w.Flush()
	out := c.out.b
	return out[:len(out)-4]
}

type source struct{ a, b []byte }

func (s *source) Read(p []byte) (int, error) {
	if len(s.a) == 0 {
		s.a, s.b = s.b, nil
		if len(s.a) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, s.a)
	s.a = s.a[n:]
	return n, nil
}

func (s *source) ReadByte() (byte, error) {
	if len(s.a) == 0 {
		s.a, s.b = s.b, nil
		if len(s.a) == 0 {
			return 0, io.EOF
		}
	}
	c := s.a[0]
	s.a = s.a[1:]
	return c, nil
}

var tail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// decompressor mirrors internal/deflate.Decompressor.
type decompressor struct {
	r        reader
	src      source
	dict     []byte
	takeover bool
}

func (d *decompressor) decompress(dst, msg []byte) ([]byte, error) {
	d.src = source{msg, tail}
	var dict []byte
	if d.takeover {
		dict = d.dict
	}
	if err := d.r.Reset(&d.src, dict); err != nil {
		return dst, err
	}
	start := len(dst)
	for {
		if cap(dst)-len(dst) < 1024 {
			dst = append(dst[:cap(dst)], make([]byte, max(len(dst), 4096))...)[:len(dst)]
		}
		n, err := d.r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
	}
	if d.takeover {
		out := dst[start:]
		if len(out) >= 32<<10 {
			d.dict = append(d.dict[:0], out[len(out)-32<<10:]...)
		} else {
			if over := len(d.dict) + len(out) - 32<<10; over > 0 {
				d.dict = d.dict[:copy(d.dict, d.dict[over:])]
			}
			d.dict = append(d.dict, out...)
		}
	}
	return dst, nil
}

const level = 1 // rawws's DefaultLevel

var cases = []struct {
	kind string
	size int
}{{"json", 1 << 10}, {"json", 64 << 10}, {"text", 1 << 10}, {"text", 64 << 10}}

func BenchmarkCompress(b *testing.B) {
	for _, cs := range cases {
		msgs := payloads(cs.kind, cs.size)
		for _, takeover := range []bool{true, false} {
			for _, im := range impls {
				name := fmt.Sprintf("kind=%s/size=%d/takeover=%v/lib=%s", cs.kind, cs.size, takeover, im.name)
				b.Run(name, func(b *testing.B) {
					c := &compressor{takeover: takeover}
					c.w, _ = im.newWriter(&c.out, level)
					dst := make([]byte, 0, 2*cs.size)
					var wire int
					b.SetBytes(int64(cs.size))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						wire += len(c.compress(dst, msgs[i%len(msgs)]))
					}
					b.ReportMetric(float64(wire)/float64(b.N*cs.size), "ratio")
				})
			}
		}
	}
}

func BenchmarkDecompress(b *testing.B) {
	for _, cs := range cases {
		msgs := payloads(cs.kind, cs.size)
		for _, takeover := range []bool{true, false} {
			// The same compressed stream (made by compress/flate) for both
			// readers; with takeover it must be inflated in order, so it
			// is cycled as a whole from a fresh decompressor.
			c := &compressor{takeover: takeover}
			c.w, _ = stdflate.NewWriter(&c.out, level)
			stream := make([][]byte, 256)
			for i := range stream {
				stream[i] = c.compress(nil, msgs[i%len(msgs)])
			}
			for _, im := range impls {
				name := fmt.Sprintf("kind=%s/size=%d/takeover=%v/lib=%s", cs.kind, cs.size, takeover, im.name)
				b.Run(name, func(b *testing.B) {
					d := &decompressor{takeover: takeover, r: im.newReader(nil, nil), dict: make([]byte, 0, 32<<10)}
					dst := make([]byte, 0, cs.size+4096)
					b.SetBytes(int64(cs.size))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						k := i % len(stream)
						if k == 0 {
							d.dict = d.dict[:0]
						}
						out, err := d.decompress(dst, stream[k])
						if err != nil || len(out) != cs.size {
							b.Fatalf("message %d: %d bytes, %v", k, len(out), err)
						}
					}
				})
			}
		}
	}
}

// TestSameOutput checks both implementations inflate each other's streams
// to the original messages, takeover included.
func TestSameOutput(t *testing.T) {
	for _, cs := range cases {
		msgs := payloads(cs.kind, cs.size)
		for _, takeover := range []bool{true, false} {
			for _, wi := range impls {
				for _, ri := range impls {
					c := &compressor{takeover: takeover}
					c.w, _ = wi.newWriter(&c.out, level)
					d := &decompressor{takeover: takeover, r: ri.newReader(nil, nil)}
					for i, m := range msgs[:16] {
						got, err := d.decompress(nil, c.compress(nil, m))
						if err != nil || !bytes.Equal(got, m) {
							t.Fatalf("%s→%s %s/%d takeover=%v message %d: %v", wi.name, ri.name, cs.kind, cs.size, takeover, i, err)
						}
					}
				}
			}
		}
	}
}

// TestMemory logs what a context-takeover compressor (a writer kept per
// connection) and an inflater (pooled, but its size is what a connection
// holds while a message is inflated) cost in each implementation.
func TestMemory(t *testing.T) {
	const n = 32
	msg := payloads("json", 16<<10)[0]
	for _, im := range impls {
		for _, lvl := range []int{1, 2, 6, 9, -2} {
			per := heapPer(n, func() any {
				c := &compressor{takeover: true}
				c.w, _ = im.newWriter(&c.out, lvl)
				c.compress(nil, msg)
				return c
			})
			t.Logf("%-10s compressor level %2d: %8.0f bytes", im.name, lvl, per)
		}
		per := heapPer(n, func() any {
			r := im.newReader(bytes.NewReader(nil), nil)
			return r
		})
		t.Logf("%-10s inflater:            %8.0f bytes", im.name, per)
	}
}

func heapPer(n int, mk func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := make([]any, n)
	for i := range keep {
		keep[i] = mk()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
