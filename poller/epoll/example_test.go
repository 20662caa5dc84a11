//go:build linux

package epoll_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rawws/rawws/poller"
	"github.com/rawws/rawws/poller/epoll"
)

// echo writes back what it gets and, because Write never blocks, pauses
// reading while a slow peer leaves more than 1 MiB queued.
type echo struct{}

func (echo) OnOpen(poller.Conn) {}

func (echo) OnData(c poller.Conn, b []byte) int {
	c.Write(b)
	if c.Buffered() > 1<<20 {
		c.PauseRead()
		go func() {
			c.Flush(context.Background())
			c.ResumeRead()
		}()
	}
	return len(b)
}

func (echo) OnClose(poller.Conn, error) {}

func Example() {
	eng, err := epoll.New(poller.Config{Loops: 2}, epoll.Options{LockOSThread: true})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go eng.Serve(ln, echo{})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 5)
	io.ReadFull(c, got)
	fmt.Println(string(got))
	// Output: hello
}
