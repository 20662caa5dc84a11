//go:build linux

package epoll

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/poller"
)

// TestCorkPipelinedAnswers: the answers a handler writes during one OnData
// are held back and leave together when OnData returns;
// whatever ends the call (return, Close, CloseWrite, Flush from inside),
// the peer receives every byte, in order, before any close.
func TestCorkPipelinedAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, c poller.Conn) // called inside OnData after the writes
		eof  bool                              // the peer sees EOF after the bytes
	}{
		{"return", func(*testing.T, poller.Conn) {}, false},
		{"close", func(_ *testing.T, c poller.Conn) { c.Close() }, true},
		{"close write", func(t *testing.T, c poller.Conn) {
			if err := c.CloseWrite(); err != nil {
				t.Errorf("CloseWrite: %v", err)
			}
		}, true},
		{"flush inside", func(t *testing.T, c poller.Conn) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Flush(ctx); err != nil {
				t.Errorf("Flush inside OnData: %v", err)
			}
			if n := c.Buffered(); n != 0 {
				t.Errorf("Buffered after Flush = %d, want 0", n)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := make(chan [3]int, 1)
			h := &fh{data: func(c poller.Conn, b []byte) int {
				var buffered [3]int
				for i, m := range []string{"first,", "second,", "third."} {
					if _, err := c.Write([]byte(m)); err != nil {
						t.Errorf("Write %q: %v", m, err)
					}
					buffered[i] = c.Buffered()
				}
				tc.end(t, c)
				held <- buffered
				return len(b)
			}}
			_, addr := start(t, poller.Config{}, Options{}, h)
			pc := dialT(t, addr)
			if _, err := pc.Write([]byte("go")); err != nil {
				t.Fatal(err)
			}
			got := recv(t, held, "OnData")
			if got[0] != len("first,") || got[1] != len("first,second,") || got[2] != len("first,second,third.") {
				t.Errorf("Buffered after each write = %v, want [6 13 19]: every answer written during OnData waits for its end, to leave in one write", got)
			}
			want := "first,second,third."
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, len(want))
			if _, err := io.ReadFull(pc, buf); err != nil {
				t.Fatalf("read: %v (got %q)", err, buf)
			}
			if string(buf) != want {
				t.Fatalf("peer read %q, want %q", buf, want)
			}
			if tc.eof {
				if n, err := pc.Read(buf); err != io.EOF {
					t.Errorf("after the answers: %d bytes, %v; want EOF", n, err)
				}
			}
		})
	}
}

// TestCorkLimit: held-back bytes never grow past corkMax; a write that
// would pass it sends them first, and order is kept.
func TestCorkLimit(t *testing.T) {
	const n = 40
	piece := make([]byte, corkMax/8)
	maxHeld := make(chan int, 1)
	h := &fh{data: func(c poller.Conn, b []byte) int {
		most := 0
		for i := range n {
			for j := range piece {
				piece[j] = byte(i)
			}
			if _, err := c.Write(piece); err != nil {
				t.Errorf("Write %d: %v", i, err)
			}
			if c.(*conn).flags.Load()&fCorked != 0 {
				most = max(most, c.Buffered())
			}
		}
		maxHeld <- most
		return len(b)
	}}
	_, addr := start(t, poller.Config{}, Options{}, h)
	pc := dialT(t, addr)
	if _, err := pc.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	all := make([]byte, n*len(piece))
	if _, err := io.ReadFull(pc, all); err != nil {
		t.Fatalf("read: %v", err)
	}
	for i := range n {
		for _, v := range all[i*len(piece) : (i+1)*len(piece)] {
			if v != byte(i) {
				t.Fatalf("piece %d arrived out of order (byte %d)", i, v)
			}
		}
	}
	if most := recv(t, maxHeld, "OnData"); most > corkMax {
		t.Errorf("held back %d bytes, over corkMax %d", most, corkMax)
	}
}

// TestAcceptedNoDelay: accepted TCP connections have Nagle off, as Go's
// own net.TCPConn does; with it on, the second of two small answers waits
// for the peer's delayed ACK.
func TestAcceptedNoDelay(t *testing.T) {
	got := make(chan int, 1)
	h := &fh{open: func(c poller.Conn) {
		v, err := unix.GetsockoptInt(int(c.(*conn).fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
		if err != nil {
			t.Errorf("getsockopt: %v", err)
		}
		got <- v
	}}
	_, addr := start(t, poller.Config{}, Options{}, h)
	dialT(t, addr)
	if v := recv(t, got, "OnOpen"); v == 0 {
		t.Error("TCP_NODELAY is off on an accepted connection")
	}
}

// TestCorkWriteErrorCloses: held-back bytes that the socket refuses when
// OnData returns (the peer reset meanwhile) close the connection with the
// write error, as a failed direct write does; they are not lost silently.
func TestCorkWriteErrorCloses(t *testing.T) {
	inData := make(chan struct{})
	reset := make(chan struct{})
	closed := make(chan error, 1)
	h := &fh{
		data: func(c poller.Conn, b []byte) int {
			c.Write([]byte("first")) // held back until OnData returns
			c.Write([]byte("second"))
			close(inData)
			select {
			case <-reset:
			case <-time.After(10 * time.Second):
				t.Error("peer reset not signalled")
			}
			return len(b)
		},
		close: func(c poller.Conn, err error) { closed <- err },
	}
	_, addr := start(t, poller.Config{}, Options{}, h)
	pc := dialT(t, addr)
	if _, err := pc.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	recv(t, inData, "OnData")
	pc.SetLinger(0) // close with RST
	pc.Close()
	time.Sleep(50 * time.Millisecond) // loopback delivers the RST at once; margin for a loaded box
	close(reset)
	err := recv(t, closed, "OnClose")
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "write") {
		t.Fatalf("OnClose(%v), want the held-back bytes' write error", err)
	}
}
