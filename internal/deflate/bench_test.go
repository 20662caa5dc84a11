package deflate

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkRoundTrip4KiB compresses and inflates a 4 KiB JSON message
// without context takeover (pooled writer and inflater).
func BenchmarkRoundTrip4KiB(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	msg := jsonish(r, 4096)
	c := NewCompressor(Settings{}, Params{ServerNoContextTakeover: true}, true)
	d := NewDecompressor(Params{ServerNoContextTakeover: true}, false, 1<<20)
	z := make([]byte, 0, 8192)
	out := make([]byte, 0, 8192)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		zz, _, _ := c.Compress(z, msg)
		d.AppendDecompress(out, zz)
	}
}
