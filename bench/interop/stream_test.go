package interop

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rawws/rawws"
)

// TestGorillaNextWriterStream: gorilla's NextWriter sends a 256 MiB
// message in fragments to a rawws session in blocking mode that streams it
// back (Reader into Writer) to gorilla's NextReader, many times the
// whole-message limit, with the process's heap growing far less than the
// message (gorilla streams both ways too, so all of it is bounded).
func TestGorillaNextWriterStream(t *testing.T) {
	const size = 256 << 20
	for _, be := range []string{"epoll", "std"} {
		t.Run(be, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			loop := make(chan error, 1)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := rawws.UpgradeHTTP(w, r, rawws.UpgradeOptions{Options: rawws.Options{Blocking: true}, Backend: be})
				if err != nil {
					loop <- err
					return
				}
				for {
					op, rd, err := s.Reader(ctx)
					if err != nil {
						loop <- err
						return
					}
					wr, err := s.Writer(ctx, op)
					if err != nil {
						loop <- err
						return
					}
					if _, err := io.Copy(wr, rd); err != nil {
						loop <- err
						return
					}
					if err := wr.Close(); err != nil {
						loop <- err
						return
					}
				}
			})}
			go srv.Serve(ln)
			defer srv.Close()

			c, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			var peak atomic.Uint64
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > peak.Load() {
						peak.Store(ms.HeapAlloc)
					}
				}
			}()
			werr := make(chan error, 1)
			go func() {
				w, err := c.NextWriter(websocket.BinaryMessage)
				if err != nil {
					werr <- err
					return
				}
				chunk := make([]byte, 256<<10)
				for sent := 0; sent < size; sent += len(chunk) {
					for i := range chunk {
						chunk[i] = byte(sent + i)
					}
					if _, err := w.Write(chunk); err != nil {
						werr <- err
						return
					}
				}
				werr <- w.Close()
			}()
			c.SetReadLimit(-1)
			c.SetReadDeadline(time.Now().Add(120 * time.Second))
			mt, r, err := c.NextReader()
			if err != nil || mt != websocket.BinaryMessage {
				t.Fatalf("NextReader: %v %v", mt, err)
			}
			buf := make([]byte, 64<<10)
			got := 0
			for {
				n, err := r.Read(buf)
				for i := 0; i < n; i++ {
					if buf[i] != byte(got+i) {
						t.Fatalf("byte %d is %d", got+i, buf[i])
					}
				}
				got += n
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", got, err)
				}
			}
			if got != size {
				t.Fatalf("echoed %d bytes, want %d", got, size)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			growth := int64(peak.Load()) - int64(before.HeapAlloc)
			t.Logf("%s: %d MiB through the stream, heap grew by at most %d KiB", be, size>>20, growth>>10)
			if growth > 32<<20 {
				t.Errorf("heap grew by %d MiB for a %d MiB message", growth>>20, size>>20)
			}
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
			var ce *rawws.CloseError
			if err := <-loop; !errors.As(err, &ce) || ce.Code != 1000 {
				t.Fatalf("server loop ended with %v", err)
			}
		})
	}
}
