package http

import (
	"bufio"
	"bytes"
	"io"
	nethttp "net/http"
	"testing"
)

// FuzzPipeline feeds arbitrary bytes, split at arbitrary points, through a
// connection's pipeline: it must never panic, never consume more than it
// was offered, and everything it writes must be well-formed responses.
func FuzzPipeline(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"), uint8(5))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n"), uint8(2))
	f.Add([]byte("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 70000\r\n\r\nxx"), uint8(40))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), uint8(9))
	f.Add([]byte("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nX : 1\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var methods []string // of the requests answered by the handler, in order
		srv := NewServer(Settings{InlineHandlers: true, MaxBodyBytes: 1 << 16, MaxHeaderBytes: 2048},
			HandlerFunc(func(w *ResponseWriter, r *Request) {
				methods = append(methods, r.Method)
				echoPath(w, r)
			}))
		fc := &fakeConn{}
		h := srv.open(fc)
		defer h.onClose() // stops its timer
		var buf []byte
		for off := 0; off < len(in); {
			end := min(off+int(step)+1, len(in))
			buf = append(buf, in[off:end]...)
			off = end
			for range 8 { // re-offer while progress is made, as a resumed poller would
				n := h.onData(buf)
				if n < 0 || n > len(buf) {
					t.Fatalf("consumed %d of %d", n, len(buf))
				}
				buf = buf[n:]
				if n == 0 || len(buf) == 0 {
					break
				}
			}
		}
		out, _ := fc.take()
		br := bufio.NewReader(bytes.NewReader(out))
		for i := 0; ; {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			m := "GET" // error responses follow the handled ones
			if i < len(methods) {
				m = methods[i]
			}
			r, err := nethttp.ReadResponse(br, &nethttp.Request{Method: m})
			if err != nil {
				t.Fatalf("malformed output %q: %v", out, err)
			}
			if r.StatusCode != 100 {
				i++
			}
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				t.Fatalf("malformed body in %q: %v", out, err)
			}
		}
	})
}
