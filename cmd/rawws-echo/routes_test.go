package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

func httpBase(t *testing.T, backend string) string {
	return strings.Replace(startEcho(t, backend), "ws://", "http://", 1)
}

func TestEchoBody(t *testing.T) {
	base := httpBase(t, "std")
	body := bytes.Repeat([]byte("echo me "), 10000)
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			// Hiding the length makes net/http send the body chunked.
			r = io.MultiReader(r)
		}
		req, _ := nethttp.NewRequest("POST", base+"/echo", r)
		req.Header.Set("Content-Type", "application/x-test")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "application/x-test" {
			t.Fatalf("chunked=%v: status %d, %d bytes, type %q", chunked, resp.StatusCode, len(got), resp.Header.Get("Content-Type"))
		}
	}
	resp, err := nethttp.Get(base + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET /echo: status %d, want 405", resp.StatusCode)
	}
}

func expectPattern(from, to int64) []byte {
	b := make([]byte, 0, to-from)
	for i := from; i < to; i++ {
		b = append(b, patternByte(i))
	}
	return b
}

func TestBytesAndRanges(t *testing.T) {
	base := httpBase(t, "std")
	get := func(path, rng string) (*nethttp.Response, []byte) {
		req, _ := nethttp.NewRequest("GET", base+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("/bytes/100000", "")
	if resp.StatusCode != 200 || resp.ContentLength != 100000 || !bytes.Equal(b, expectPattern(0, 100000)) {
		t.Fatalf("whole: status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	resp, b = get("/bytes/1000", "bytes=10-19")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 10-19/1000" || !bytes.Equal(b, expectPattern(10, 20)) {
		t.Fatalf("one range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), b)
	}
	resp, b = get("/bytes/1000", "bytes=-5")
	if resp.StatusCode != 206 || !bytes.Equal(b, expectPattern(995, 1000)) {
		t.Fatalf("suffix range: %d", resp.StatusCode)
	}
	resp, b = get("/bytes/10000", "bytes=0-9,5000-5009")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("two ranges: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for _, want := range [][2]int64{{0, 10}, {5000, 5010}} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		cr := fmt.Sprintf("bytes %d-%d/10000", want[0], want[1]-1)
		if p.Header.Get("Content-Range") != cr || !bytes.Equal(got, expectPattern(want[0], want[1])) {
			t.Fatalf("part %q: %q", p.Header.Get("Content-Range"), got)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("after two parts: %v", err)
	}
	resp, _ = get("/bytes/100", "bytes=200-300")
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */100" {
		t.Fatalf("unsatisfiable: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	for _, bad := range []string{"/bytes/x", "/bytes/-1", fmt.Sprintf("/bytes/%d", maxBytes+1)} {
		if resp, _ = get(bad, ""); resp.StatusCode != 400 {
			t.Fatalf("%s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestMultipartSummary(t *testing.T) {
	base := httpBase(t, "std")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	files := map[string][]byte{"a.bin": bytes.Repeat([]byte{0, '\r', '\n', '-'}, 5000), "b.txt": []byte("hello")}
	var want []partInfo
	for _, name := range []string{"a.bin", "b.txt"} {
		w, _ := mw.CreateFormFile("f-"+name, name)
		w.Write(files[name])
		sum := sha256.Sum256(files[name])
		want = append(want, partInfo{Name: "f-" + name, Filename: name, Size: int64(len(files[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	mw.WriteField("plain", "value")
	sum := sha256.Sum256([]byte("value"))
	want = append(want, partInfo{Name: "plain", Size: 5, SHA256: hex.EncodeToString(sum[:])})
	mw.Close()
	resp, err := nethttp.Post(base+"/multipart", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []partInfo
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parts\n got %+v\nwant %+v", got, want)
	}
	resp, err = nethttp.Post(base+"/multipart", "text/plain", strings.NewReader("not multipart"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("non-multipart body: status %d, want 400", resp.StatusCode)
	}
}

// A message sent on /broadcast reaches every client of the path, the sender
// included, unaltered.
func TestBroadcastPath(t *testing.T) {
	base := startEcho(t, "std")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []chan string
	var sessions []*rawws.Session
	for i := 0; i < 5; i++ {
		ch := make(chan string, 4)
		s, _, err := rawws.Dial(ctx, base+"/broadcast", rawws.DialOptions{Backend: "std",
			Options: rawws.Options{MessageHandler: rawws.MessageFuncs{
				Message: func(s *rawws.Session, op frame.Opcode, p []byte) { ch <- string(p) },
			}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(nil)
		got, sessions = append(got, ch), append(sessions, s)
	}
	// Subscription happens in the server's OnOpen, which may trail our
	// handshake by a moment: send until the first copy arrives.
	deadline := time.After(5 * time.Second)
	for sent := false; !sent; {
		sessions[0].SendText(ctx, "hello all")
		select {
		case m := <-got[4]:
			if m != "hello all" {
				t.Fatalf("got %q", m)
			}
			sent = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no broadcast arrived")
		}
	}
	for i, ch := range got[:4] {
		select {
		case m := <-ch:
			if m != "hello all" {
				t.Fatalf("client %d got %q", i, m)
			}
		case <-deadline:
			t.Fatalf("client %d got nothing", i)
		}
	}
}

// A body one byte over maxBody is refused with 413 on its declared length,
// before the server reads it; a 2 MiB body, over the HTTP server's 1 MiB
// default, is echoed: the echo server's own cap is the one in force.
func TestEchoBodyLimit(t *testing.T) {
	base := startEcho(t, "std")
	addr := strings.TrimPrefix(base, "ws://")
	for _, tc := range []struct {
		length int64
		want   string
	}{{maxBody + 1, "HTTP/1.1 413"}, {2 << 20, "HTTP/1.1 200"}} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", tc.length)
		if tc.length <= maxBody {
			c.Write(make([]byte, tc.length))
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, tc.want) {
			t.Fatalf("Content-Length %d: %q, %v; want %s", tc.length, line, err, tc.want)
		}
	}
}
