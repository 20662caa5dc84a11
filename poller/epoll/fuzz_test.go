//go:build linux

package epoll

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawws/rawws/poller"
)

var (
	fuzzOnce sync.Once
	fuzzEng  *Engine
)

// splitHandler consumes according to a script and checks the carry
// invariant: every OnData is offered exactly the stream from the first
// unconsumed byte on.
type splitHandler struct {
	stream []byte
	script []byte

	mu       sync.Mutex
	calls    int
	consumed int
	reach    int  // end of the furthest offer
	paused   bool // the previous call paused

	bad  string
	done chan struct{}
}

func (h *splitHandler) OnOpen(poller.Conn) {}

func (h *splitHandler) OnData(c poller.Conn, b []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bad == "" && (h.consumed+len(b) > len(h.stream) || !bytes.Equal(b, h.stream[h.consumed:h.consumed+len(b)])) {
		h.bad = "offer is not the stream from the first unconsumed byte"
	}
	s := h.script[h.calls%len(h.script)]
	h.calls++
	n := int(s&0x7f) % (len(b) + 1)
	if s&0x80 != 0 && !h.paused {
		// Pause for a moment; ResumeRead re-offers the rest. Never twice
		// in a row: a handler that keeps pausing without consuming would
		// never see the end of the stream.
		h.paused = true
		c.PauseRead()
		go c.ResumeRead()
	} else {
		h.paused = false
	}
	h.reach = max(h.reach, h.consumed+len(b))
	h.consumed += n
	return n
}

func (h *splitHandler) OnClose(poller.Conn, error) { close(h.done) }

// FuzzCarry streams data over a socket pair in chunks, to a handler that
// consumes script-driven amounts (pausing now and then), and checks that
// no byte is lost, duplicated or reordered across reads, carries and
// resumes.
func FuzzCarry(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{3, 1}, []byte{0x81, 5, 0})
	f.Add(bytes.Repeat([]byte("abcdefgh"), 10000), []byte{200, 7, 255}, []byte{0, 0x7f, 0x85})
	f.Add([]byte{1}, []byte{1}, []byte{0})
	f.Fuzz(func(t *testing.T, data, chunks, script []byte) {
		if len(data) == 0 || len(data) > 1<<16 || len(chunks) == 0 || len(script) == 0 {
			return
		}
		fuzzOnce.Do(func() {
			var err error
			fuzzEng, err = New(poller.Config{Loops: 1}, Options{})
			if err != nil {
				panic(err)
			}
		})
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skip(err)
		}
		peer := os.NewFile(uintptr(fds[1]), "peer")
		defer peer.Close()
		h := &splitHandler{stream: data, script: script, done: make(chan struct{})}
		// Some bytes arrive already buffered, as after an HTTP upgrade.
		pre := int(chunks[0]) % (len(data) + 1)
		if _, err := fuzzEng.AdoptFD(fds[0], data[:pre], h); err != nil {
			unix.Close(fds[0])
			t.Fatal(err)
		}
		go func() {
			rest := data[pre:]
			for i := 0; len(rest) > 0; i++ {
				n := min(len(rest), 1+int(chunks[i%len(chunks)]))
				if _, err := peer.Write(rest[:n]); err != nil {
					return
				}
				rest = rest[n:]
			}
			unix.Shutdown(fds[1], unix.SHUT_WR)
		}()
		// Drain the other direction so nothing blocks, then wait for the
		// EOF to close the connection.
		go io.Copy(io.Discard, peer)
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Fatal("connection did not close after the peer's FIN")
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.bad != "" {
			t.Fatal(h.bad)
		}
		// Every byte was offered before OnClose, consumed or not.
		if h.reach != len(data) {
			t.Fatalf("bytes lost: offers reached byte %d of %d", h.reach, len(data))
		}
	})
}
