//go:build linux

package epoll

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// bpEcho echoes and applies backpressure the way a real server must with a
// non-blocking Write: past a high-water mark it pauses reading until the
// output queue has drained.
type bpEcho struct{}

const highWater = 1 << 20

func (bpEcho) OnOpen(poller.Conn) {}
func (bpEcho) OnData(c poller.Conn, b []byte) int {
	if _, err := c.Write(b); err != nil {
		return len(b)
	}
	if c.Buffered() > highWater {
		c.PauseRead()
		go func() {
			c.Flush(context.Background())
			c.ResumeRead()
		}()
	}
	return len(b)
}
func (bpEcho) OnClose(poller.Conn, error) {}

// BenchmarkEcho measures raw TCP echo throughput: plain net.Conn clients in
// this process stream chunks at the server and read the echo back; bytes per
// op is the chunk size. "locked" and "unlocked" are Options.LockOSThread.
func BenchmarkEcho(b *testing.B) {
	for _, locked := range []bool{true, false} {
		for _, conns := range []int{1, 16} {
			for _, size := range []int{512, 4 << 10, 64 << 10} {
				name := fmt.Sprintf("locked=%v/conns=%d/size=%d", locked, conns, size)
				b.Run(name, func(b *testing.B) { benchEcho(b, Options{LockOSThread: locked}, conns, size) })
			}
		}
	}
}

func benchEcho(b *testing.B, opt Options, conns, size int) {
	_, addr := start(b, poller.Config{}, opt, bpEcho{})
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialT(b, addr)
	}
	chunk := newStreamGen(1).next()[:size]
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range cs {
		ops := b.N / conns
		if i < b.N%conns {
			ops++
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range ops {
				if _, err := c.Write(chunk); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			if _, err := io.CopyN(io.Discard, c, int64(ops*size)); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}
