package netpoll_test

import (
	"net"
	"testing"
	"time"
	"io"

	"github.com/rawws/rawws/poller"
	_ "github.com/rawws/rawws/poller/netpoll"
)

type h struct{}

func (h) OnOpen(c poller.Conn) { println("open") }
func (h) OnData(c poller.Conn, b []byte) int {
	println("data", len(b))
	n, err := c.Write(b)
	println("wrote", n, err)
	return len(b)
}
func (h) OnClose(c poller.Conn, err error) { println("close", err) }

func TestX(t *testing.T) {
	defer func() { println("done") }()
	eng, _ := poller.New("netpoll", poller.Config{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { err := eng.Serve(ln, h{}); println("serve", err.Error()) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil { t.Fatal(err) }
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 5)
	_, err = io.ReadFull(c, b)
	t.Log(string(b), err)
}
