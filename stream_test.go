package rawws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// blockingPair is a blocking-mode server session and a raw client.
func blockingPair(t *testing.T, eng poller.Engine, opts Options) (*Session, *rawClient) {
	t.Helper()
	opts.Blocking = true
	srv := startServer(t, eng, UpgradeOptions{Options: opts})
	c := dialRaw(t, srv.Addr)
	return srv.next(t), c
}

// TestStreamFragmentedRoundTrip: a message in fragments of every size,
// with pings between them, comes out of its reader whole and in order,
// and the pings are answered while it is read.
func TestStreamFragmentedRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, c := blockingPair(t, eng, Options{})
		want := make([]byte, 300<<10)
		for i := range want {
			want[i] = byte(i * 7)
		}
		go func() {
			off := 0
			for i, n := range []int{0, 1, 100, 70000, 5, 150000} {
				op := frame.OpContinuation
				if i == 0 {
					op = frame.OpBinary
				}
				c.send(false, op, want[off:off+n])
				off += n
				c.send(true, frame.OpPing, []byte{byte(i)})
			}
			c.send(true, frame.OpContinuation, want[off:])
			c.send(true, frame.OpText, []byte("héllo"))
		}()
		ctx := ctx5(t)
		op, r, err := s.Reader(ctx)
		if err != nil || op != frame.OpBinary {
			t.Fatalf("Reader: %v %v", op, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes (%v), want %d equal", len(got), err, len(want))
		}
		op, p, err := s.Read(ctx)
		if err != nil || op != frame.OpText || string(p) != "héllo" {
			t.Fatalf("Read: %v %q %v", op, p, err)
		}
		for i := 0; i < 6; i++ {
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil || h.Opcode != frame.OpPong || len(p) != 1 || p[0] != byte(i) {
				t.Fatalf("pong %d: %+v %x %v", i, h, p, err)
			}
		}
	})
}

// TestStreamInvalidUTF8AcrossFragments: a text message whose UTF-8 is
// broken at a fragment boundary (a sequence started in one fragment and
// not continued in the next) closes 1007, and the reader fails instead
// of ending with io.EOF.
func TestStreamInvalidUTF8AcrossFragments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		for _, tc := range []struct {
			name  string
			frags [][]byte
		}{
			{"bad continuation", [][]byte{[]byte("ok \xe2\x82"), []byte("A")}},
			{"truncated at the end", [][]byte{[]byte("ok"), []byte("\xe2\x82")}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, c := blockingPair(t, eng, Options{})
				for i, f := range tc.frags {
					op := frame.OpContinuation
					if i == 0 {
						op = frame.OpText
					}
					c.send(i == len(tc.frags)-1, op, f)
				}
				ctx := ctx5(t)
				op, r, err := s.Reader(ctx)
				if err != nil || op != frame.OpText {
					t.Fatalf("Reader: %v %v", op, err)
				}
				_, err = io.ReadAll(r)
				if err == nil {
					t.Fatal("reader ended cleanly on invalid UTF-8")
				}
				c.expectClose(frame.CloseInvalidPayload)
				var pe *frame.ProtocolError
				if !errors.As(err, &pe) || pe.Code != frame.CloseInvalidPayload {
					t.Fatalf("reader error %v, want the 1007 protocol error", err)
				}
			})
		}
	})
}

// TestStreamReadClose: Read answers pings, and a peer's Close is answered
// and reported with the peer's code.
func TestStreamReadClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, c := blockingPair(t, eng, Options{})
		c.send(true, frame.OpPing, []byte("p"))
		c.send(true, frame.OpText, []byte("one"))
		c.send(true, frame.OpClose, []byte{0x0f, 0xa0, 'b', 'y', 'e'}) // 4000
		ctx := ctx5(t)
		op, p, err := s.Read(ctx)
		if err != nil || op != frame.OpText || string(p) != "one" {
			t.Fatalf("Read: %v %q %v", op, p, err)
		}
		_, _, err = s.Read(ctx)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" || !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v, want a CloseError 4000", err)
		}
		h, pl, err := c.readFrame(5 * time.Second)
		if err != nil || h.Opcode != frame.OpPong || string(pl) != "p" {
			t.Fatalf("pong: %+v %q %v", h, pl, err)
		}
		c.expectClose(4000)
		c.expectEOF()
		c.nc.Close()
		waitDone(t, s)
	})
}

// TestStreamReadTooBig: Read keeps MaxMessageSize (1009), while the
// reader of the same session may stream a message of any size.
func TestStreamReadTooBig(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, c := blockingPair(t, eng, Options{MaxMessageSize: 1000})
		big := bytes.Repeat([]byte("x"), 5000)
		c.send(true, frame.OpBinary, big)
		c.send(true, frame.OpBinary, big)
		ctx := ctx5(t)
		_, r, err := s.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || len(got) != len(big) {
			t.Fatalf("streamed %d bytes, %v", len(got), err)
		}
		if _, _, err := s.Read(ctx); !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("Read of a message over MaxMessageSize: %v", err)
		}
		c.expectClose(frame.CloseTooBig)
	})
}

// TestStreamLargeBoundedMemory: a message of 128 MiB, many times
// MaxMessageSize, goes through a slow reader with the session's heap
// growth far below its size, and while the reader stops, the peer's
// writes stop too (the session does not buffer them).
func TestStreamLargeBoundedMemory(t *testing.T) {
	const size = 128 << 20
	const frag = 1 << 20
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, c := blockingPair(t, eng, Options{})
		var sent atomic.Int64
		chunk := make([]byte, frag)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		wire := [2][]byte{encodeFrame(false, frame.OpBinary, chunk, true), encodeFrame(false, frame.OpContinuation, chunk, true)}
		last := encodeFrame(true, frame.OpContinuation, nil, true)
		werr := make(chan error, 1)
		go func() {
			c.nc.SetWriteDeadline(time.Now().Add(60 * time.Second))
			for i := 0; i < size/frag; i++ {
				if _, err := c.nc.Write(wire[min(i, 1)]); err != nil {
					werr <- err
					return
				}
				sent.Add(frag)
			}
			_, err := c.nc.Write(last)
			werr <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		op, r, err := s.Reader(ctx)
		if err != nil || op != frame.OpBinary {
			t.Fatalf("Reader: %v %v", op, err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		buf := make([]byte, 16<<10)
		var got int64
		var maxHeap uint64
		for pause := 0; ; {
			n, err := r.Read(buf)
			for i := 0; i < n; i++ {
				if buf[i] != byte(int(got)+i) {
					t.Fatalf("byte %d is %d", got+int64(i), buf[i])
				}
			}
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil && eng.Name() == "netpoll" && errors.Is(err, poller.ErrInputLimit) {
				// netpoll cannot stop the kernel reading: a peer faster
				// than the reader is cut at the engine's input cap, which
				// bounds the memory instead of TCP.
				t.Logf("netpoll: cut after %d bytes at the input cap, as documented", got)
				return
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			if got >= int64(pause+1)*(32<<20) && pause < 3 && eng.Name() != "netpoll" {
				// The reader stops: the writer must stop soon after, held
				// by TCP, not by the session buffering the message.
				pause++
				time.Sleep(200 * time.Millisecond)
				a := sent.Load()
				time.Sleep(300 * time.Millisecond)
				if b := sent.Load(); b != a {
					t.Errorf("the peer sent %d bytes while nothing was read", b-a)
				}
				if ahead := sent.Load() - got; ahead > 48<<20 {
					t.Errorf("the peer is %d bytes ahead of the reader", ahead)
				}
			}
			if got%(8<<20) < int64(n) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				maxHeap = max(maxHeap, ms.HeapAlloc)
			}
		}
		if got != size {
			t.Fatalf("read %d bytes, want %d", got, size)
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		growth := int64(maxHeap) - int64(before.HeapAlloc)
		t.Logf("%s: heap grew by at most %d KiB streaming %d MiB", eng.Name(), growth>>10, size>>20)
		if growth > 24<<20 {
			t.Errorf("heap grew by %d MiB streaming %d MiB", growth>>20, size>>20)
		}
	})
}

// TestStreamWriterFragments: a Writer sends fragments as its buffer fills
// and the last on Close, and a message sent meanwhile by another goroutine
// waits for it instead of interleaving.
func TestStreamWriterFragments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, c := blockingPair(t, eng, Options{})
		ctx := ctx5(t)
		w, err := s.Writer(ctx, frame.OpBinary)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 3*writerBuf+10)
		for i := range want {
			want[i] = byte(i * 3)
		}
		if _, err := w.Write(want[:writerBuf+5]); err != nil {
			t.Fatal(err)
		}
		other := make(chan error, 1)
		go func() { other <- s.SendText(ctx, "other") }()
		select {
		case err := <-other:
			t.Fatalf("SendText did not wait for the open message: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := w.Write(want[writerBuf+5:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-other; err != nil {
			t.Fatal(err)
		}
		var got []byte
		frames := 0
		for {
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			frames++
			if (frames == 1) != (h.Opcode == frame.OpBinary) || frames > 1 && h.Opcode != frame.OpContinuation {
				t.Fatalf("frame %d: opcode %v", frames, h.Opcode)
			}
			got = append(got, p...)
			if h.Fin {
				break
			}
		}
		if !bytes.Equal(got, want) || frames != 4 {
			t.Fatalf("got %d bytes in %d frames, want %d in 4", len(got), frames, len(want))
		}
		h, p, err := c.readFrame(5 * time.Second)
		if err != nil || h.Opcode != frame.OpText || string(p) != "other" {
			t.Fatalf("after the message: %+v %q %v", h, p, err)
		}
	})
}

// TestStreamNetConn: io.Copy through a session's net.Conn view echoes
// what a client sends, a read deadline fails a Read with
// os.ErrDeadlineExceeded, and Close sends Close 1000.
func TestStreamNetConn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, c := blockingPair(t, eng, Options{})
		nc := s.NetConn(frame.OpBinary)
		nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := nc.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past its deadline: %v", err)
		}
		nc.SetReadDeadline(time.Time{})
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(nc, nc)
			done <- err
		}()
		var want []byte
		for i := 0; i < 20; i++ {
			p := bytes.Repeat([]byte{byte(i)}, 1000*i)
			want = append(want, p...)
			c.send(true, frame.OpBinary, p)
		}
		var got []byte
		for len(got) < len(want) {
			h, p, err := c.readFrame(5 * time.Second)
			if err != nil || h.Opcode != frame.OpBinary {
				t.Fatalf("echo: %+v %v", h, err)
			}
			got = append(got, p...)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("echo differs")
		}
		c.send(true, frame.OpClose, []byte{0x03, 0xe8})
		if err := <-done; err != nil {
			t.Fatalf("io.Copy after a normal close: %v", err)
		}
		c.expectClose(frame.CloseNormal)
		if err := nc.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBlockingOptionsCheck: Blocking with a handler is refused.
func TestBlockingOptionsCheck(t *testing.T) {
	o := Options{Blocking: true, MessageHandler: MessageFuncs{}}
	if err := o.check(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("check: %v", err)
	}
	s := newSession(Options{MessageHandler: MessageFuncs{}})
	if _, _, err := s.Read(context.Background()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Read outside blocking mode: %v", err)
	}
}

// TestStreamDialCompressed: two blocking sessions, a Dial client and a
// server, with permessage-deflate: a compressed message reaches the
// reader inflated (whole), a fragmented one from a Writer uncompressed,
// and Read on the client sees the server's echoes.
func TestStreamDialCompressed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		opts := Options{Blocking: true, Compression: &Compression{}}
		srv := startServer(t, eng, UpgradeOptions{Options: opts})
		ctx := ctx5(t)
		cl, _, err := Dial(ctx, srv.URL, DialOptions{Options: opts, Engine: eng})
		if err != nil {
			t.Fatal(err)
		}
		s := srv.next(t)
		if cl.Extensions() == "" {
			t.Fatal("permessage-deflate not negotiated")
		}
		small := bytes.Repeat([]byte("compress me "), 1000)
		big := bytes.Repeat([]byte("fragmented "), 20000)
		go func() {
			cl.SendBinary(ctx, small)
			w, err := cl.Writer(ctx, frame.OpText)
			if err == nil {
				w.Write(big)
				w.Close()
			}
		}()
		for _, want := range [][]byte{small, big} {
			op, p, err := s.Read(ctx)
			if err != nil || !bytes.Equal(p, want) {
				t.Fatalf("server Read: %v %d bytes %v", op, len(p), err)
			}
			if err := s.SendBinary(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range [][]byte{small, big} {
			_, p, err := cl.Read(ctx)
			if err != nil || !bytes.Equal(p, want) {
				t.Fatalf("client Read: %d bytes %v", len(p), err)
			}
		}
		if err := cl.CloseWith(ctx, frame.CloseReason{Code: frame.CloseNormal}); err != nil {
			t.Fatal(err)
		}
		var ce *CloseError
		if _, _, err := s.Read(ctx); !errors.As(err, &ce) || ce.Code != frame.CloseNormal {
			t.Fatalf("server Read after the client's Close: %v", err)
		}
	})
}

// TestBlockingIdleFootprint: what an idle blocking-mode session costs
// beside the goroutine parked in Read (its stack, 8 KiB or more): the
// session, its cold state, the stream state and its copy of the options,
// and no buffer until a message arrives.
func TestBlockingIdleFootprint(t *testing.T) {
	shared := Options{Blocking: true}
	var s *Session
	got := testing.AllocsPerRun(100, func() { s = newSessionShared(&shared) })
	if got != 4 {
		t.Errorf("newSessionShared: %v allocations, want 4", got)
	}
	if st := s.stream(); st == nil || st.bp != nil {
		t.Fatal("no stream state, or a buffer held before any message")
	}
	size := unsafe.Sizeof(Session{}) + unsafe.Sizeof(sessionCold{}) + unsafe.Sizeof(streamState{}) + unsafe.Sizeof(Options{})
	t.Logf("idle blocking session: %d B of state (Session %d, cold %d, stream %d, options %d)", size,
		unsafe.Sizeof(Session{}), unsafe.Sizeof(sessionCold{}), unsafe.Sizeof(streamState{}), unsafe.Sizeof(Options{}))
	if size > 1024 {
		t.Errorf("idle blocking session state is %d B", size)
	}
}

// TestStreamNetConnWriteDeadline: a Write that waits for a peer that reads
// nothing fails at its deadline with os.ErrDeadlineExceeded, and the
// session goes on.
func TestStreamNetConnWriteDeadline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		s, _ := blockingPair(t, eng, Options{OutgoingBytes: 64 << 10, OutgoingFrames: 2})
		nc := s.NetConn(frame.OpBinary)
		nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		p := make([]byte, 1<<20)
		var err error
		for i := 0; i < 500 && err == nil; i++ {
			_, err = nc.Write(p)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write to a peer that reads nothing: %v", err)
		}
		if s.Err() != nil {
			t.Fatalf("the session ended: %v", s.Err())
		}
	})
}
