package rawws

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// pyFragmentClient sends fragmented text and binary messages with Python's
// websockets (an implementation nobody here wrote) and checks each echo.
// The binary message (3 MiB) stays under the engine's input cap: netpoll,
// which cannot push back, would cut a larger one sent faster than the echo
// reads it.
const pyFragmentClient = `
import asyncio, sys, websockets

async def main(url):
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        for parts in (["a"], ["hé", "llo ", "wörld", "", "€"], ["x" * 70000, "y" * 3]):
            await ws.send(parts)
            got = await ws.recv()
            assert got == "".join(parts), ("text", len(got))
        big = [bytes([i % 251]) * 65536 for i in range(48)]
        await ws.send(big)
        got = await ws.recv()
        assert got == b"".join(big), ("binary", len(got))
        await ws.close(code=1000)
        print("ok", ws.close_code)

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
`

// TestStreamPythonFragments: fragmented messages from Python's websockets
// go through a streaming echo (Reader into Writer) intact, and its close
// ends the echo loop with a normal closure.
func TestStreamPythonFragments(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run(); err != nil {
		t.Skip("python3-websockets is not installed; run bash .ci/deps.sh")
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		srv := startServer(t, eng, UpgradeOptions{Options: Options{Blocking: true}})
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		loop := make(chan error, 1)
		go func() {
			s := <-srv.sessions
			for {
				op, r, err := s.Reader(ctx)
				if err != nil {
					loop <- err
					return
				}
				w, err := s.Writer(ctx, op)
				if err != nil {
					loop <- err
					return
				}
				if _, err := io.Copy(w, r); err != nil {
					loop <- err
					return
				}
				if err := w.Close(); err != nil {
					loop <- err
					return
				}
			}
		}()
		out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", pyFragmentClient, srv.URL).CombinedOutput()
		if err != nil || string(out) != "ok 1000\n" {
			t.Fatalf("%v\n%s", err, out)
		}
		err = <-loop
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != frame.CloseNormal {
			t.Fatalf("echo loop ended with %v, want the peer's 1000", err)
		}
	})
}
