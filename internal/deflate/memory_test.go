package deflate

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// heapPerConn measures the heap that n connections' codec state holds at
// rest, after each handled one message, with pools emptied by two GCs.
func heapPerConn(n int, setup func(i int) any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := make([]any, n)
	for i := range keep {
		keep[i] = setup(i)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// TestMemoryPerConnection measures and bounds what one connection's
// permessage-deflate state costs between messages (the numbers in the
// package doc come from its -v output).
func TestMemoryPerConnection(t *testing.T) {
	const conns = 64
	msg := jsonish(rand.New(rand.NewPCG(9, 9)), 16<<10)
	z, _, _ := NewCompressor(Settings{}, Params{}, true).Compress(nil, msg)
	tests := []struct {
		name  string
		setup func(int) any
		max   float64
	}{
		{"compressor, no takeover, level 1", func(int) any {
			c := NewCompressor(Settings{Level: 1}, Params{ServerNoContextTakeover: true}, true)
			c.Compress(nil, msg)
			return c
		}, 512},
		{"compressor, takeover, level 1", func(int) any {
			c := NewCompressor(Settings{Level: 1}, Params{}, true)
			c.Compress(nil, msg)
			return c
		}, 3 << 19},
		{"compressor, takeover, level 6", func(int) any {
			c := NewCompressor(Settings{Level: 6}, Params{}, true)
			c.Compress(nil, msg)
			return c
		}, 3 << 19},
		{"compressor, takeover, huffman-only", func(int) any {
			c := NewCompressor(Settings{Level: -2}, Params{}, true)
			c.Compress(nil, msg)
			return c
		}, 3 << 19},
		{"decompressor, no takeover", func(int) any {
			d := NewDecompressor(Params{ServerNoContextTakeover: true}, false, 1<<20)
			d.AppendDecompress(nil, z)
			return d
		}, 512},
		{"decompressor, takeover", func(int) any {
			d := NewDecompressor(Params{}, false, 1<<20)
			d.AppendDecompress(nil, z)
			return d
		}, WindowSize + 1024},
	}
	for _, tt := range tests {
		per := heapPerConn(conns, tt.setup)
		t.Logf("%-36s %9.0f bytes per connection at rest", tt.name, per)
		if per > tt.max {
			t.Errorf("%s: %.0f bytes per connection, want <= %.0f", tt.name, per, tt.max)
		}
	}
}

func ExampleAccept() {
	p, resp, ok := Accept("permessage-deflate; client_max_window_bits; server_max_window_bits=10", Settings{})
	fmt.Println(ok, resp)
	c := NewCompressor(Settings{}, p, true)
	fmt.Println("server keeps its compressor between messages:", c.Takeover())
	// Output:
	// true permessage-deflate; server_no_context_takeover; server_max_window_bits=10
	// server keeps its compressor between messages: false
}
