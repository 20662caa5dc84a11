package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// TestScenariosCloseNormally: every WebSocket connection a scenario opens
// ends with the closing handshake, so the server sees Close 1000 from each
// of them, not a dropped connection (1006), and none is reported as
// having failed to finish the handshake.
func TestScenariosCloseNormally(t *testing.T) {
	for _, sc := range []string{"echo", "broadcast", "idle", "connect"} {
		t.Run(sc, func(t *testing.T) {
			srv := startServer(t)
			c := testConfig(srv.url, sc)
			if err := validate(&c); err != nil {
				t.Fatal(err)
			}
			r, err := run(c)
			if err != nil {
				t.Fatal(err)
			}
			srv.waitIdle(t)
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if srv.upgrades == 0 {
				t.Fatal("the scenario opened no connection")
			}
			if n := srv.closes[frame.CloseNormal]; n != srv.upgrades || len(srv.closes) != 1 || len(srv.unclosed) != 0 {
				t.Fatalf("%d connections; the server saw Close 1000 from %d; by code: %v; ended without a Close: %v",
					srv.upgrades, n, srv.closes, srv.unclosed)
			}
			if r.CloseUnfinished != 0 {
				t.Fatalf("%d closing handshakes reported unfinished, though the server answered every Close", r.CloseUnfinished)
			}
		})
	}
}

// TestCloseAllCountsSilentPeers: a peer that never answers our Close (nor
// closes) is counted, and closeAll still returns within its bound.
func TestCloseAllCountsSilentPeers(t *testing.T) {
	addr := startSilentServer(t)
	c := testConfig("ws://"+addr+"/", "idle")
	c.conns = 3
	if err := validate(&c); err != nil {
		t.Fatal(err)
	}
	sessions, failed := connectAll(t.Context(), c, newProgress(true), "silent", func(int) rawws.MessageHandler { return rawws.MessageFuncs{} })
	if failed != 0 || len(sessions) != c.conns {
		t.Fatalf("%d connected, %d failed", len(sessions), failed)
	}
	start := time.Now()
	n := closeAll(sessions)
	if el := time.Since(start); el > closeWait+1500*time.Millisecond {
		t.Errorf("closeAll took %v, bound %v (+1 s grace)", el, closeWait)
	}
	if n != int64(len(sessions)) {
		t.Fatalf("%d of %d silent peers counted as leaving the handshake unfinished", n, len(sessions))
	}
	for _, s := range sessions {
		select {
		case <-s.Done():
		default:
			t.Fatal("a session is still open after closeAll")
		}
	}
}

// TestConnectReportsConcurrency: -conns in the connect scenario is the
// number of connections open at once (the server never sees more), and the
// connects made in all are reported apart from it, matching the server's
// count of handshakes.
func TestConnectReportsConcurrency(t *testing.T) {
	srv := startServer(t)
	c := testConfig(srv.url, "connect")
	c.conns, c.ramp, c.duration = 5, 64, 500*time.Millisecond
	if err := validate(&c); err != nil {
		t.Fatal(err)
	}
	r, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	srv.waitIdle(t)
	srv.mu.Lock()
	upgrades, peak := srv.upgrades, srv.peak
	srv.mu.Unlock()
	if r.Conns != c.conns {
		t.Errorf("report's conns %d, -conns %d", r.Conns, c.conns)
	}
	if r.Connected < 1 || r.Connected > c.conns {
		t.Errorf("report says %d open at once; -conns %d", r.Connected, c.conns)
	}
	// The server learns of a close a little after the client, which may
	// have dialed the next one by then: its count may lag by one per worker,
	// not more (ramp, 64, workers would show far more).
	if peak > 2*c.conns {
		t.Errorf("the server had %d connections open at once; -conns %d", peak, c.conns)
	}
	if r.Connects != int64(upgrades) || r.Connects <= int64(r.Connected) {
		t.Errorf("report: %d connects in all, %d open at once; the server upgraded %d", r.Connects, r.Connected, upgrades)
	}
	var table bytes.Buffer
	printTable(&table, []report{r})
	lines := strings.Split(table.String(), "\n")
	if len(lines) < 3 {
		t.Fatalf("table:\n%s", table.String())
	}
	row := strings.Fields(lines[2])
	if len(row) < 2 || row[1] != strconv.Itoa(r.Connected) || !strings.Contains(lines[2], strconv.FormatInt(r.Connects, 10)+" connects in all") {
		t.Errorf("the conns column must be the number open at once (%d), the total (%d) labelled apart:\n%s", r.Connected, r.Connects, table.String())
	}
}

// startSilentServer accepts WebSocket handshakes on 127.0.0.1, then reads
// and discards everything without ever answering or closing: a peer that
// ignores the closing handshake.
func startSilentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReader(c)
				tp := textproto.NewReader(br)
				if _, err := tp.ReadLine(); err != nil { // the request line
					return
				}
				hdr, err := tp.ReadMIMEHeader()
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(hdr.Get("Sec-Websocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
					base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
				io.Copy(io.Discard, br)
			}()
		}
	}()
	return ln.Addr().String()
}
