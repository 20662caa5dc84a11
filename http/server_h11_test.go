package http

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// h11Script checks our responses with python3-h11, a strict HTTP/1.1
// implementation nobody here wrote: it raises on any framing or syntax
// error in what it receives.
const h11Script = `
import socket, sys, h11

host, port = sys.argv[1], int(sys.argv[2])

def connect():
    s = socket.create_connection((host, port), timeout=5)
    return s, h11.Connection(our_role=h11.CLIENT)

def roundtrip(s, c, method, target, headers=(), body=None):
    hs = [("Host", "test")] + list(headers)
    if body is not None:
        hs.append(("Content-Length", str(len(body))))
    data = c.send(h11.Request(method=method, target=target, headers=hs))
    if body is not None:
        data += c.send(h11.Data(data=body))
    data += c.send(h11.EndOfMessage())
    s.sendall(data)
    return receive(s, c)

def receive(s, c):
    resp, chunks = None, []
    while True:
        ev = c.next_event()
        if ev is h11.NEED_DATA:
            d = s.recv(65536)
            c.receive_data(d)
            continue
        if isinstance(ev, h11.InformationalResponse):
            continue
        if isinstance(ev, h11.Response):
            resp = ev
        elif isinstance(ev, h11.Data):
            chunks.append(bytes(ev.data))
        elif isinstance(ev, h11.EndOfMessage):
            return resp, b"".join(chunks)
        else:
            raise AssertionError("unexpected event %r" % (ev,))

s, c = connect()
for i in range(3):
    r, b = roundtrip(s, c, "GET", "/hello")
    assert r.status_code == 200 and b == b"Hello, World!", (r, b)
    assert dict(r.headers).get(b"content-length") == b"13", r.headers
    c.start_next_cycle()
r, b = roundtrip(s, c, "HEAD", "/hello")
assert r.status_code == 200 and b == b"", (r, b)
c.start_next_cycle()
r, b = roundtrip(s, c, "POST", "/echo", body=b"x" * 5000)
assert r.status_code == 200 and b == b"x" * 5000, (r, len(b))
c.start_next_cycle()
r, b = roundtrip(s, c, "GET", "/stream")
assert r.status_code == 200 and b == b"one,two,three", (r, b)
assert (b"transfer-encoding", b"chunked") in list(r.headers), r.headers
c.start_next_cycle()
r, b = roundtrip(s, c, "GET", "/nocontent")
assert r.status_code == 204 and b == b"", (r, b)
c.start_next_cycle()
r, b = roundtrip(s, c, "PUT", "/echo", headers=[("Expect", "100-continue")], body=b"abc")
assert r.status_code == 200 and b == b"abc", (r, b)
c.start_next_cycle()
r, b = roundtrip(s, c, "GET", "/close", headers=[("Connection", "close")])
assert r.status_code == 200 and (b"connection", b"close") in list(r.headers), r.headers
s.close()

# A refused request: h11 is told a request went out, we send bad bytes.
s, c = connect()
c.send(h11.Request(method="GET", target="/", headers=[("Host", "t")]))
c.send(h11.EndOfMessage())
s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Bad : 1\r\n\r\n")
r, b = receive(s, c)
assert r.status_code == 400 and (b"connection", b"close") in list(r.headers), r
s.close()
print("OK")
`

func TestServerH11(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("python3 absent")
	}
	script := filepath.Join(t.TempDir(), "h11check.py")
	if err := os.WriteFile(script, []byte(h11Script), 0o644); err != nil {
		t.Fatal(err)
	}
	mux := NewServeMux()
	mux.Handle("/hello", NonBlocking(helloHandler))
	mux.HandleFunc("/echo", func(w *ResponseWriter, r *Request) { w.Write(r.Body) })
	mux.HandleFunc("/stream", func(w *ResponseWriter, r *Request) {
		for i, p := range []string{"one", ",two", ",three"} {
			w.WriteString(p)
			if i < 2 {
				w.Flush()
			}
		}
	})
	mux.HandleFunc("/nocontent", func(w *ResponseWriter, r *Request) { w.WriteHeader(204) })
	mux.HandleFunc("/close", func(w *ResponseWriter, r *Request) { w.WriteString("bye") })
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, mux)
		hostPort := strings.Split(addr, ":")
		cmd := exec.Command(py, script, hostPort[0], hostPort[1])
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("h11 check timed out: %s", out)
		}
		if err != nil || !strings.Contains(string(out), "OK") {
			t.Fatalf("h11 check failed: %v\n%s", err, out)
		}
	})
}
