package pollertest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// BenchmarkEcho measures raw TCP echo throughput through a backend: plain
// net.Conn clients stream fixed-size chunks to an echoing server and read
// everything back, keeping at most echoWindow bytes in flight per
// connection (an echo server without flow control would have to drop or
// buffer without bound). Bytes per op is the chunk size.
func BenchmarkEcho(b *testing.B, newEngine NewEngine) {
	for _, conns := range []int{1, 16} {
		for _, size := range []int{512, 4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("conns=%d/size=%d", conns, size), func(b *testing.B) {
				benchEcho(b, newEngine, conns, size)
			})
		}
	}
}

func benchEcho(b *testing.B, newEngine NewEngine, conns, size int) {
	eng := newEngine(b, poller.Config{}.WithDefaults())
	defer eng.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	h := &counter{echo: true}
	go eng.Serve(ln, h)
	window := max(1, echoWindow/size)
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	chunk := pattern(1, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range cs {
		ops := b.N / conns
		if i < b.N%conns {
			ops++
		}
		tokens := make(chan struct{}, window)
		for range window {
			tokens <- struct{}{}
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range ops {
				<-tokens
				if _, err := c.Write(chunk); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(5 * time.Minute))
			buf := make([]byte, 64<<10)
			var got, returned int
			for got < ops*size {
				n, err := c.Read(buf)
				if err != nil {
					b.Error(err)
					return
				}
				got += n
				for ; returned < got/size; returned++ {
					tokens <- struct{}{}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := h.writeErrs.Load(); n > 0 {
		b.Fatalf("%d echo writes failed", n)
	}
}

// echoWindow bounds the bytes a benchmark client keeps in flight.
const echoWindow = 256 << 10
