package http

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/http/body"
	"github.com/rawws/rawws/poller"
)

// Issue 18, "nothing lost": a response is delivered whole, in order, to a
// client that reads slowly at first, or its handler learns that it failed.

// bigSize is the body of every slow-reader test: far past the connection's
// output cap, so the handler has to wait for the socket many times.
const bigSize = 64 << 20

// testMaxOutput is the engines' output cap in these tests: small, so the
// cap is met often and the test does not need 16 MiB per connection.
const testMaxOutput = 1 << 20

// patPeriod is prime, so no power-of-two chunking lines up with the
// pattern and a lost or repeated chunk always shows in the checksum.
const patPeriod = 65521

var patTable = sync.OnceValue(func() []byte {
	// Twice the period, so any window of up to a period is one copy.
	b := make([]byte, 2*patPeriod)
	for i := range b {
		x := i % patPeriod
		b[i] = byte(x*31 + x>>8 + 7)
	}
	return b
})

// pat is an io.ReaderAt over size bytes of the pattern.
type pat struct{ size int64 }

func (p pat) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := len(b)
	if rem := p.size - off; int64(n) > rem {
		n = int(rem)
	}
	t := patTable()
	for done := 0; done < n; {
		phase := int((off + int64(done)) % patPeriod)
		done += copy(b[done:n], t[phase:phase+patPeriod])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// patSum is the SHA-256 of the pattern's bytes [off, off+n).
func patSum(off, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, io.NewSectionReader(pat{off + n}, off, n))
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// slowReader reads like a client that is slow to start: it waits, then
// takes the first slowBytes in small reads with pauses, then reads at full
// speed.
type slowReader struct {
	r       io.Reader
	n       int64
	started bool
}

const slowBytes = 3 << 20

func (s *slowReader) Read(p []byte) (int, error) {
	if !s.started {
		s.started = true
		time.Sleep(300 * time.Millisecond)
	}
	if s.n < slowBytes {
		if len(p) > 64<<10 {
			p = p[:64<<10]
		}
		time.Sleep(3 * time.Millisecond)
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

// startCapped is startServer with an engine whose output cap is
// testMaxOutput.
func startCapped(t *testing.T, backend string, set Settings, h Handler) string {
	t.Helper()
	eng, err := poller.New(backend, poller.Config{Loops: 2, Tick: 5 * time.Millisecond, MaxOutput: testMaxOutput})
	if err != nil {
		t.Fatal(err)
	}
	set.Engine = eng
	srv := NewServer(set, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		eng.Close()
	})
	return ln.Addr().String()
}

// getSlow sends req on a new connection and parses the response with
// net/http's client code, reading through a slowReader.
func getSlow(t *testing.T, addr, req string) (*nethttp.Response, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(90 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := nethttp.ReadResponse(bufio.NewReaderSize(&slowReader{r: c}, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, c
}

// checkBody reads body to its end and compares it with the pattern's
// bytes [off, off+n).
func checkBody(t *testing.T, what string, body io.Reader, off, n int64) {
	t.Helper()
	h := sha256.New()
	got, err := io.Copy(h, body)
	if err != nil {
		t.Fatalf("%s: after %d of %d bytes: %v", what, got, n, err)
	}
	if got != n {
		t.Fatalf("%s: %d bytes, want %d", what, got, n)
	}
	var s [32]byte
	if h.Sum(s[:0]); s != patSum(off, n) {
		t.Fatalf("%s: %d bytes arrived but not the pattern's, in order", what, n)
	}
}

// writePattern writes n pattern bytes in pieces of size piece, stopping
// at the first error, which it returns.
func writePattern(w io.Writer, n int64, piece int) error {
	buf := make([]byte, piece)
	for off := int64(0); off < n; {
		k := int(min(int64(piece), n-off))
		pat{n}.ReadAt(buf[:k], off)
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		off += int64(k)
	}
	return nil
}

// serveBig answers /plain with a streamed body, /content with
// body.ServeContentAt (so Range works, one or several), the way rawws-echo
// serves /bytes/N.
var serveBig = HandlerFunc(func(w *ResponseWriter, r *Request) {
	switch r.Path {
	case "/plain":
		w.Header().Set("Content-Type", "application/octet-stream")
		writePattern(w, bigSize, 48<<10)
	case "/one-write":
		buf := make([]byte, bigSize)
		pat{bigSize}.ReadAt(buf, 0)
		w.Header().Set("Content-Length", strconv.Itoa(bigSize))
		w.Write(buf)
	case "/content":
		res, err := body.ServeContentAt(body.ContentRequest{Method: r.Method, Range: r.Header.Get("Range"), ContentType: "application/octet-stream"},
			"", time.Time{}, `"big"`, pat{bigSize}, bigSize)
		for name, vals := range res.Header {
			for _, v := range vals {
				w.Header().Add(name, v)
			}
		}
		w.WriteHeader(res.Status)
		if err == nil && res.Body != nil {
			io.Copy(w, res.Body)
		}
	default:
		w.WriteHeader(404)
	}
})

func TestSlowReaderPlainWrite(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr := startCapped(t, backend, Settings{}, serveBig)
		for _, path := range []string{"/plain", "/one-write"} {
			resp, _ := getSlow(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			checkBody(t, path, resp.Body, 0, bigSize)
		}
	})
}

func TestSlowReaderServeContent(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr := startCapped(t, backend, Settings{}, serveBig)
		resp, _ := getSlow(t, addr, "GET /content HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		checkBody(t, "whole", resp.Body, 0, bigSize)
	})
}

func TestSlowReaderRanges(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		addr := startCapped(t, backend, Settings{}, serveBig)
		// One range: 206 with the bytes of the range only.
		const from, to = 1000, bigSize - 12345
		resp, _ := getSlow(t, addr, fmt.Sprintf("GET /content HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-%d\r\n\r\n", from, to))
		if resp.StatusCode != 206 {
			t.Fatalf("one range: status %d", resp.StatusCode)
		}
		checkBody(t, "one range", resp.Body, from, to-from+1)

		// Several: multipart/byteranges, each part checked on its own.
		want := [][2]int64{{0, 20 << 20}, {24 << 20, 30 << 20}, {40 << 20, bigSize - 1}}
		spec := ""
		for i, r := range want {
			if i > 0 {
				spec += ","
			}
			spec += fmt.Sprintf("%d-%d", r[0], r[1])
		}
		resp, _ = getSlow(t, addr, "GET /content HTTP/1.1\r\nHost: x\r\nRange: bytes="+spec+"\r\n\r\n")
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("ranges: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(resp.Body, params["boundary"])
		for i, r := range want {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if cr, wcr := p.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], bigSize); cr != wcr {
				t.Fatalf("part %d: Content-Range %q, want %q", i, cr, wcr)
			}
			checkBody(t, fmt.Sprint("part ", i), p, r[0], r[1]-r[0]+1)
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Fatalf("after the parts: %v, want io.EOF", err)
		}
	})
}

func TestSlowReaderMountedNetHTTP(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writePattern(f, bigSize, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mux := nethttp.NewServeMux()
	mux.Handle("/files/", nethttp.StripPrefix("/files/", nethttp.FileServer(nethttp.Dir(dir))))
	mux.HandleFunc("/plain", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		writePattern(w, bigSize, 40<<10)
	})
	mux.HandleFunc("/content", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.ServeContent(w, r, "big.bin", time.Time{}, io.NewSectionReader(pat{bigSize}, 0, bigSize))
	})
	forBackends(t, func(t *testing.T, backend string) {
		addr := startCapped(t, backend, Settings{}, FromNetHTTP(mux))
		for _, path := range []string{"/files/big.bin", "/plain", "/content"} {
			resp, _ := getSlow(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != 200 {
				t.Fatalf("%s: status %d", path, resp.StatusCode)
			}
			checkBody(t, path, resp.Body, 0, bigSize)
		}
		const from, to = 5, bigSize - 7
		resp, _ := getSlow(t, addr, fmt.Sprintf("GET /files/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-%d\r\n\r\n", from, to))
		if resp.StatusCode != 206 {
			t.Fatalf("range: status %d", resp.StatusCode)
		}
		checkBody(t, "file range", resp.Body, from, to-from+1)
	})
}

// Handlers on the event loop cannot wait: two pipelined 32 MiB answers
// (the second meets a full queue) must still both arrive whole.
func TestSlowReaderInlinePipelined(t *testing.T) {
	const half = bigSize / 2
	h := NonBlocking(HandlerFunc(func(w *ResponseWriter, r *Request) {
		buf := make([]byte, half)
		pat{half}.ReadAt(buf, 0)
		w.Header().Set("Content-Length", strconv.Itoa(half))
		w.Write(buf)
	}))
	forBackends(t, func(t *testing.T, backend string) {
		addr := startCapped(t, backend, Settings{}, h)
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(90 * time.Second))
		io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReaderSize(&slowReader{r: c}, 64<<10)
		for i := range 2 {
			resp, err := nethttp.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			checkBody(t, fmt.Sprint("response ", i), resp.Body, 0, half)
		}
	})
}

// A client that goes away mid-body makes the handler's Write fail, soon:
// it neither hangs nor writes into the void.
func TestSlowReaderDisconnectFailsHandler(t *testing.T) {
	type result struct {
		err     error
		elapsed time.Duration
	}
	native := func(res chan<- result) Handler {
		return HandlerFunc(func(w *ResponseWriter, r *Request) {
			start := time.Now()
			err := writePattern(w, 1<<30, 64<<10)
			res <- result{err, time.Since(start)}
		})
	}
	mounted := func(res chan<- result) Handler {
		return FromNetHTTP(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			start := time.Now()
			err := writePattern(w, 1<<30, 64<<10)
			res <- result{err, time.Since(start)}
		}))
	}
	for name, mk := range map[string]func(chan<- result) Handler{"native": native, "mounted": mounted} {
		t.Run(name, func(t *testing.T) {
			forBackends(t, func(t *testing.T, backend string) {
				res := make(chan result, 1)
				addr := startCapped(t, backend, Settings{}, mk(res))
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if _, err := io.CopyN(io.Discard, c, 2<<20); err != nil {
					t.Fatal(err)
				}
				c.Close()
				select {
				case r := <-res:
					if r.err == nil {
						t.Fatalf("the handler wrote 1 GiB to a client that left after 2 MiB, without an error (%v)", r.elapsed)
					}
					if !errors.Is(r.err, ErrConnClosed) {
						t.Logf("handler error: %v", r.err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the handler did not return within 10 s of the client leaving")
				}
			})
		})
	}
}

// A client that stops reading and stays connected holds no handler forever:
// once its output makes no progress for WriteTimeout, the connection closes
// and the handler's Write fails with ErrWriteTimeout.
func TestWriteTimeoutStalledReader(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		res := make(chan error, 1)
		addr := startCapped(t, backend, Settings{WriteTimeout: 300 * time.Millisecond}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			res <- writePattern(w, 1<<30, 64<<10)
		}))
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		// Read nothing: the socket buffers and the output cap fill up.
		select {
		case err := <-res:
			if !errors.Is(err, ErrWriteTimeout) {
				t.Fatalf("handler error %v, want ErrWriteTimeout", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the handler still waits 15 s after its client stopped reading (WriteTimeout 300 ms)")
		}
	})
}

// WriteTimeout measures progress, not the whole response: a reader that
// keeps draining at 5 MB/s gets every byte of a response that takes three
// times WriteTimeout. (The server sees progress only as its own queue
// shrinks, after the kernel's buffers, several MB on loopback, have made
// room; a timeout much shorter than the time a reader takes to drain a
// third of them cuts a reader that is still reading.)
func TestWriteTimeoutSlowButMoving(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		const n = 12 << 20
		const wt = 800 * time.Millisecond
		addr := startCapped(t, backend, Settings{WriteTimeout: wt}, HandlerFunc(func(w *ResponseWriter, r *Request) {
			w.Header().Set("Content-Length", strconv.Itoa(n))
			writePattern(w, n, 64<<10)
		}))
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		start := time.Now()
		resp, err := nethttp.ReadResponse(bufio.NewReader(&pacedReader{r: c, chunk: 512 << 10, every: 100 * time.Millisecond}), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkBody(t, "paced", resp.Body, 0, n)
		if d := time.Since(start); d < 2*wt {
			t.Fatalf("the response took %v, under 2×WriteTimeout: the pacing did not test the timeout", d)
		}
	})
}

// pacedReader reads at most chunk bytes per interval every.
type pacedReader struct {
	r     io.Reader
	chunk int
	every time.Duration
	left  int
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		time.Sleep(p.every)
		p.left = p.chunk
	}
	if len(b) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= n
	return n, err
}
