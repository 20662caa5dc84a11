package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rawws/rawws/cmd/internal/conform"
	"github.com/rawws/rawws/poller"
)

// TestConformanceDeflate runs the permessage-deflate sections (12, 13) of
// the conformance suite against the echo server on every backend: each
// takeover and window combination, sizes up to 16 KiB here (under the race
// detector compress/flate is slow; rawws-conform -deflate against the
// binary runs the 64 KiB to 1 MiB and bomb cases), text and binary, whole
// and fragmented, and the extension's protocol errors.
func TestConformanceDeflate(t *testing.T) {
	light := append([]string{"12.*.7", "12.*.8", "13.*.7", "13.*.8"}, conform.HeavyCases...)
	for _, backend := range poller.Backends() {
		t.Run(backend, func(t *testing.T) {
			url := startEcho(t, backend) + "/"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := conform.Run(ctx, url, conform.Options{Cases: []string{"12", "13"}, Exclude: light, Deflate: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed()) > 0 || len(rep.NonStrict()) > 0 {
				rep.WriteText(os.Stderr, true)
				t.Fatalf("%s: %d failed, %d non-strict", backend, len(rep.Failed()), len(rep.NonStrict()))
			}
			t.Logf("%s: %s", backend, rep.Summary())
		})
	}
}

// pyDeflateClient echoes through Python's websockets with its zlib-based
// permessage-deflate under several offers; zlib really uses the small
// windows it negotiates, which Go's compressors cannot.
const pyDeflateClient = `
import asyncio, sys, json, websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory as PMD

OFFERS = [
    {},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 10, "client_max_window_bits": 9},
    {"server_max_window_bits": 8, "client_max_window_bits": 9, "client_no_context_takeover": True},
]

async def main(uri):
    for offer in OFFERS:
        async with websockets.connect(uri, max_size=None, extensions=[PMD(**offer)]) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate"), ext
            for i, n in enumerate((0, 20, 300, 1000, 5000, 70000, 1 << 20)):
                t = json.dumps([{"id": i * 1000 + j, "user": "u%d" % (j % 37), "price": j % 997} for j in range(n // 30 + 1)])[:n]
                await ws.send(t)
                got = await ws.recv()
                assert got == t, ("text", offer, n, len(got))
                b = bytes((j * 7 + i) % 251 if j % 3 else 0 for j in range(n))
                await ws.send(b)
                got = await ws.recv()
                assert got == b, ("binary", offer, n, len(got))
            await ws.close(code=1000)
        print("ok", ext)

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
`

func TestPythonWebsocketsDeflate(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run(); err != nil {
		t.Skip("python3-websockets is not installed; run bash .ci/deps.sh")
	}
	for _, backend := range poller.Backends() {
		t.Run(backend, func(t *testing.T) {
			url := startEcho(t, backend) + "/"
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", pyDeflateClient, url).CombinedOutput()
			if err != nil || bytes.Count(out, []byte("ok permessage-deflate")) != 4 {
				t.Fatalf("%v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}
