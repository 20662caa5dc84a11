package rawws

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/deflate"
	"github.com/rawws/rawws/poller"
)

// limitUnderTest is the message limit the tests below run at: the
// default (16 MiB), or 1 MiB under the race detector, which makes DEFLATE
// some 15 times slower; the frame limit follows the message limit either
// way, so both show the same thing.
func limitUnderTest() int64 {
	if raceEnabled {
		return 1 << 20
	}
	return DefaultMaxMessageSize
}

// Random bytes do not compress: DEFLATE stores them, a few bytes per block
// more than they are, so a message exactly at MaxMessageSize travels in a
// frame a little over it. It is within every limit and echoes both ways
// (each side inflates the other's frame), on every backend; one byte more
// is refused with 1009 once inflated.
func TestCompressionIncompressibleAtTheLimit(t *testing.T) {
	limit := limitUnderTest()
	msg := make([]byte, limit)
	rand.Read(msg)
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, MaxMessageSize: limit, Compression: &Compression{}}})
		ch := make(chan gotMsg, 2)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{MessageHandler: collect(ch), MaxMessageSize: limit, Compression: &Compression{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		server := srv.next(t)
		if err := s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: msg}); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got.op != frame.OpBinary || !bytes.Equal(got.p, msg) {
				t.Fatalf("echo: %v %d B, want binary %d B", got.op, len(got.p), len(msg))
			}
		case <-s.Done():
			t.Fatalf("client ended: %v (server: %v)", s.Err(), server.Err())
		case <-ctx.Done():
			t.Fatalf("no echo: client %v, server %v", s.Err(), server.Err())
		}

		over := append(msg, 0)
		if err := s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: over}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-server.Done():
		case got := <-ch:
			t.Fatalf("a message over the limit was echoed (%d B)", len(got.p))
		case <-ctx.Done():
			t.Fatal("the server did not end")
		}
		if !errors.Is(server.Err(), ErrMessageTooBig) {
			t.Fatalf("server ended with %v, want ErrMessageTooBig", server.Err())
		}
	})
}

var (
	bombOnce sync.Once
	bomb     []byte
)

// zipBomb is 100 MB of zeros as one compressed message (about 100 KB;
// 10 MB under the race detector, against its smaller limit): far under
// any frame limit, far over the message limit once inflated.
func zipBomb(t *testing.T) []byte {
	bombOnce.Do(func() {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		zeros := make([]byte, 1<<20)
		mb := 100
		if raceEnabled {
			mb = 10
		}
		for range mb {
			w.Write(zeros)
		}
		w.Flush()
		bomb = bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	})
	if len(bomb) > 200<<10 {
		t.Fatalf("bomb is %d B compressed", len(bomb))
	}
	return bomb
}

// A decompression bomb is closed with 1009 having inflated no more than
// the message limit (plus one chunk), with the frame limit's headroom for
// compressed frames in place.
func TestCompressionBombClosed1009(t *testing.T) {
	limit := limitUnderTest()
	z := zipBomb(t)
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, MaxMessageSize: limit, Compression: &Compression{}}})
		ctx := ctx5(t)
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{Compression: &Compression{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		server := srv.next(t)
		if err := s.Send(ctx, frame.Frame{Fin: true, Rsv1: true, Opcode: frame.OpBinary, Payload: z}); err != nil {
			t.Fatal(err)
		}
		var got frame.Frame
		for range 10 {
			if got = recvFrame(t, s); got.Opcode == frame.OpClose {
				break
			}
		}
		r, err := frame.ParseCloseReason(got.Payload)
		if got.Opcode != frame.OpClose || err != nil || r.Code != frame.CloseTooBig {
			t.Fatalf("got %v %q, want close 1009", got.Opcode, got.Payload)
		}
		waitDone(t, server)
		if !errors.Is(server.Err(), ErrMessageTooBig) {
			t.Fatalf("server Err %v, want ErrMessageTooBig", server.Err())
		}
	})
	// The work done before refusing it: the decompressor the session uses
	// stops within one chunk past the limit.
	d := deflate.NewDecompressor(deflate.Params{}, true, limit)
	var n countWriter
	if _, err := d.Write(z); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Inflate(&n); !errors.Is(err, deflate.ErrTooBig) {
		t.Fatalf("inflate: %v", err)
	}
	if int64(n) > limit+deflate.ChunkSize {
		t.Fatalf("inflated %d B before refusing (limit %d)", n, limit)
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// An explicit MaxFrameSize leaves the same room for compressed frames: a
// message of incompressible data exactly at the frame limit echoes.
func TestCompressionExplicitFrameLimitLeavesRoom(t *testing.T) {
	const limit = 256 << 10
	msg := make([]byte, limit)
	rand.Read(msg)
	opts := func(h MessageHandler) Options {
		return Options{MessageHandler: h, MaxFrameSize: limit, Compression: &Compression{}}
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: opts(echoMessages)})
		ch := make(chan gotMsg, 1)
		ctx := ctx5(t)
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: opts(collect(ch))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		server := srv.next(t)
		if err := s.SendCopy(ctx, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: msg}); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if !bytes.Equal(got.p, msg) {
				t.Fatalf("echo: %d B differ", len(got.p))
			}
		case <-s.Done():
			t.Fatalf("client ended: %v (server: %v)", s.Err(), server.Err())
		case <-ctx.Done():
			t.Fatalf("no echo: client %v, server %v", s.Err(), server.Err())
		}
	})
}

// The headroom is for compressed frames only: with permessage-deflate on,
// an uncompressed frame over an explicit MaxFrameSize is still refused
// with 1009 on its header, and MaxFrameSize reports the limit as given.
func TestCompressionPlainFrameHeldToFrameLimit(t *testing.T) {
	const limit = 64 << 10
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{MessageHandler: echoMessages, MaxFrameSize: limit, Compression: &Compression{}}})
		ctx := ctx5(t)
		s, _, err := Dial(ctx, srv.URL, DialOptions{Engine: eng, Options: Options{Compression: &Compression{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(errors.New("test over"))
		server := srv.next(t)
		if got := server.MaxFrameSize(); got != limit {
			t.Fatalf("server MaxFrameSize %d, want %d as configured", got, limit)
		}
		plain := frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: make([]byte, limit+1)}
		if err := s.Send(ctx, plain); err != nil {
			t.Fatal(err)
		}
		var got frame.Frame
		for range 10 {
			if got = recvFrame(t, s); got.Opcode == frame.OpClose {
				break
			}
		}
		r, err := frame.ParseCloseReason(got.Payload)
		if got.Opcode != frame.OpClose || err != nil || r.Code != frame.CloseTooBig {
			t.Fatalf("got %v %q, want close 1009", got.Opcode, got.Payload)
		}
		waitDone(t, server)
		if !errors.Is(server.Err(), ErrFrameTooBig) {
			t.Fatalf("server Err %v, want ErrFrameTooBig", server.Err())
		}
	})
}
