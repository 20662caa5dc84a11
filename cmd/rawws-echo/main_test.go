package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	nethttp "net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/server"
)

// pyClient drives the server with Python's websockets library (asyncio API,
// Debian's python3-websockets 10.x): an independent implementation checking
// our framing, masking, fragmentation, ping and close handshake.
const pyClient = `
import asyncio, sys, websockets

async def main(uri):
    async with websockets.connect(uri, max_size=None, compression=None) as ws:
        for n in (0, 1, 125, 126, 127, 65535, 65536, 1 << 20):
            t = "é" * (n // 2) + "a" * (n % 2)
            await ws.send(t)
            got = await ws.recv()
            assert got == t, ("text", n, len(got))
            b = bytes(i % 251 for i in range(n))
            await ws.send(b)
            got = await ws.recv()
            assert got == b, ("binary", n, len(got))
        await ws.send(["frag", "men", "ted"])
        got = await ws.recv()
        assert got == "fragmented", got
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        await ws.close(code=1000, reason="bye")
        assert ws.close_code == 1000, ws.close_code
    print("ok")

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
`

func TestPythonWebsocketsClient(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run(); err != nil {
		t.Skip("python3-websockets is not installed; run bash .ci/deps.sh")
	}
	for _, backend := range []string{"std", "netpoll", "epoll"} {
		t.Run(backend, func(t *testing.T) {
			url := startEcho(t, backend)
			paths := []string{"/"}
			if backend == "std" {
				paths = append(paths, "/raw")
			}
			for _, path := range paths {
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", pyClient, url+path).CombinedOutput()
				cancel()
				if err != nil || !bytes.Contains(out, []byte("ok")) {
					t.Fatalf("%s: %v\n%s", path, err, out)
				}
			}
		})
	}
}

// startEcho serves the echo server on 127.0.0.1 with the given backend and
// returns its ws:// base URL.
func startEcho(t *testing.T, backend string) string {
	t.Helper()
	srv, err := newServer(config{backend: backend, compression: &rawws.Compression{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String()
}

func TestHealthz(t *testing.T) {
	base := strings.Replace(startEcho(t, "std"), "ws://", "http://", 1)
	resp, err := nethttp.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A plain GET of a WebSocket-only path is not an upgrade: 404 from the
	// HTTP routes, not a crash.
	resp, err = nethttp.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestMainPrintsListening(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// Build, then run the binary itself: killing "go run" would leave its
	// child running.
	bin := filepath.Join(t.TempDir(), "rawws-echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-backend", "std")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 128)
	n, _ := out.Read(buf)
	line := string(buf[:n])
	if !strings.HasPrefix(line, "listening on 127.0.0.1:") || strings.Count(line, "\n") != 1 {
		t.Fatalf("first output %q", line)
	}
}

// GET /debug/vars publishes the session counters: a session echoed through
// the server shows up in "rawws".
func TestDebugVars(t *testing.T) {
	base := startEcho(t, "std")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := rawws.Dial(ctx, base+"/", rawws.DialOptions{Backend: "std"})
	if err != nil {
		t.Fatal(err)
	}
	c.SendText(ctx, "count me")
	<-c.Incoming()
	resp, err := nethttp.Get(strings.Replace(base, "ws://", "http://", 1) + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var vars struct {
		Rawws server.Metrics `json:"rawws"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatal(err)
	}
	if vars.Rawws.Accepted < 1 || vars.Rawws.Open < 1 || vars.Rawws.FramesIn < 1 {
		t.Fatalf("rawws vars %+v: the session is not counted", vars.Rawws)
	}
	c.Close(io.EOF)
}
