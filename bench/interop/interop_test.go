// Package interop runs WebSocket clients nobody on this project wrote —
// gorilla/websocket, gobwas/ws, coder/websocket, Node's ws and Python's
// websockets — against the rawws-echo binary on every backend.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coderws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"
)

var echoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rawws-interop")
	if err != nil {
		panic(err)
	}
	echoBin = filepath.Join(dir, "rawws-echo")
	build := exec.Command("go", "build", "-o", echoBin, "github.com/rawws/rawws/cmd/rawws-echo")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building rawws-echo:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var backends = []string{"netpoll", "epoll", "std"}

// startEcho runs rawws-echo on a free loopback port and returns its address.
func startEcho(t *testing.T, backend string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, echoBin, "-addr", "127.0.0.1:0", "-backend", backend)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- strings.TrimSpace(a)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(20 * time.Second):
		t.Fatalf("rawws-echo -backend %s did not start", backend)
	}
	return ""
}

type echoCase struct {
	name   string
	binary bool
	data   []byte
}

func cases() []echoCase {
	rnd := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	return []echoCase{
		{"text 0 B", false, nil},
		{"text utf-8", false, []byte("grüße, 世界, 🚀")},
		{"binary 0 B", true, nil},
		{"binary 125 B", true, rnd(125)},
		{"binary 126 B", true, rnd(126)},
		{"binary 64 KiB", true, rnd(64 << 10)},
		{"binary 1 MiB", true, rnd(1 << 20)},
		{"text 64 KiB", false, bytes.Repeat([]byte("é"), 32<<10)},
	}
}

func TestGorillaClient(t *testing.T) {
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			addr := startEcho(t, be)
			c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadLimit(8 << 20)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for _, tc := range cases() {
				mt := websocket.TextMessage
				if tc.binary {
					mt = websocket.BinaryMessage
				}
				if err := c.WriteMessage(mt, tc.data); err != nil {
					t.Fatalf("%s: write: %v", tc.name, err)
				}
				gt, got, err := c.ReadMessage()
				if err != nil || gt != mt || !bytes.Equal(got, tc.data) {
					t.Fatalf("%s: got type %d, %d bytes, err %v", tc.name, gt, len(got), err)
				}
			}
			// Fragmented: NextWriter with a small buffer splits into frames.
			w, _ := c.NextWriter(websocket.BinaryMessage)
			for i := 0; i < 5; i++ {
				w.Write([]byte("part"))
				if fl, ok := w.(interface{ Flush() error }); ok {
					fl.Flush()
				}
			}
			w.Close()
			if _, got, err := c.ReadMessage(); err != nil || string(got) != strings.Repeat("part", 5) {
				t.Fatalf("fragmented: %q %v", got, err)
			}
			pong := make(chan string, 1)
			c.SetPongHandler(func(s string) error { pong <- s; return nil })
			if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			// The pong handler runs inside a read; the server answers the
			// ping, then echoes this message behind it.
			c.WriteMessage(websocket.TextMessage, []byte("after-ping"))
			if _, got, err := c.ReadMessage(); err != nil || string(got) != "after-ping" {
				t.Fatalf("after ping: %q %v", got, err)
			}
			select {
			case p := <-pong:
				if p != "p1" {
					t.Fatalf("pong %q", p)
				}
			default:
				t.Fatal("no pong before the next message")
			}
			msg := websocket.FormatCloseMessage(4001, "bye")
			c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4001 {
				t.Fatalf("close: %v", err)
			}
		})
	}
}

func TestGobwasClient(t *testing.T) {
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			addr := startEcho(t, be)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, _, _, err := ws.Dial(ctx, "ws://"+addr+"/")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			for _, tc := range cases() {
				op := ws.OpText
				if tc.binary {
					op = ws.OpBinary
				}
				if err := wsutil.WriteClientMessage(conn, op, tc.data); err != nil {
					t.Fatal(err)
				}
				got, gop, err := wsutil.ReadServerData(conn)
				if err != nil || gop != op || !bytes.Equal(got, tc.data) {
					t.Fatalf("%s: op %v, %d bytes, err %v", tc.name, gop, len(got), err)
				}
			}
			// Ping: gobwas surfaces control frames through a handler.
			if err := wsutil.WriteClientMessage(conn, ws.OpPing, []byte("gp")); err != nil {
				t.Fatal(err)
			}
			msgs, err := wsutil.ReadServerMessage(conn, nil)
			if err != nil || len(msgs) == 0 || msgs[0].OpCode != ws.OpPong || string(msgs[0].Payload) != "gp" {
				t.Fatalf("pong: %+v %v", msgs, err)
			}
		})
	}
}

func TestCoderClient(t *testing.T) {
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			addr := startEcho(t, be)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := coderws.Dial(ctx, "ws://"+addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(8 << 20)
			for _, tc := range cases() {
				mt := coderws.MessageText
				if tc.binary {
					mt = coderws.MessageBinary
				}
				if err := c.Write(ctx, mt, tc.data); err != nil {
					t.Fatal(err)
				}
				gt, got, err := c.Read(ctx)
				if err != nil || gt != mt || !bytes.Equal(got, tc.data) {
					t.Fatalf("%s: type %v, %d bytes, err %v", tc.name, gt, len(got), err)
				}
			}
			// coder's Ping waits for the matching pong, read by a concurrent reader.
			c.CloseRead(ctx)
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if err := c.Close(coderws.StatusNormalClosure, "bye"); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
}

func TestNodeWS(t *testing.T) {
	if _, err := os.Stat("node/node_modules/ws"); err != nil {
		t.Fatal("node ws missing: run `make deps` (npm ci in bench/interop/node)")
	}
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			addr := startEcho(t, be)
			runClient(t, "node", "node/client.mjs", "ws://"+addr+"/")
		})
	}
}

func runClient(t *testing.T, exe string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, args...).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s %v: %v", exe, args, err)
	}
}

// bigRandom is DefaultMaxMessageSize: the largest message rawws-echo takes,
// random, so permessage-deflate makes its frame a little larger than it.
const bigRandom = 16 << 20

// Python's websockets sends a 16 MiB incompressible message compressed and
// gets it back, on every backend: the compressed frame is over 16 MiB but
// the message is within every limit.
func TestPythonWebsocketsDeflateBigMessage(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import websockets").Run(); err != nil {
		t.Fatalf("python3 websockets missing: run `make deps` (.ci/deps.sh installs python3-websockets): %v", err)
	}
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			addr := startEcho(t, be)
			runClient(t, python, "python/deflate_big.py", "ws://"+addr+"/", fmt.Sprint(bigRandom))
		})
	}
}

// The same with Node's ws.
func TestNodeWSDeflateBigMessage(t *testing.T) {
	if _, err := os.Stat("node/node_modules/ws"); err != nil {
		t.Fatal("node ws missing: run `make deps` (npm ci in bench/interop/node)")
	}
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			addr := startEcho(t, be)
			runClient(t, "node", "node/deflate_big.mjs", "ws://"+addr+"/", fmt.Sprint(bigRandom))
		})
	}
}
