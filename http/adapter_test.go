package http

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"
)

// A standard net/http handler runs on our server, and the standard client
// talks to it.
func TestFromNetHTTP(t *testing.T) {
	std := nethttp.NewServeMux()
	std.HandleFunc("/echo", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Query", r.URL.Query().Get("q"))
		w.Header().Set("X-Agent", r.Header.Get("User-Agent"))
		w.Header().Set("X-Host", r.Host)
		w.WriteHeader(201)
		w.Write(body)
	})
	std.HandleFunc("/flush", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.WriteString(w, "<html>a")
		w.(nethttp.Flusher).Flush()
		io.WriteString(w, "b")
	})
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, FromNetHTTP(std))
		client := &nethttp.Client{Transport: &nethttp.Transport{}}
		defer client.CloseIdleConnections()
		req, _ := nethttp.NewRequest("POST", "http://"+addr+"/echo?q=v", strings.NewReader("payload"))
		req.Header.Set("User-Agent", "adapter-test")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || string(body) != "payload" || resp.Header.Get("X-Method") != "POST" ||
			resp.Header.Get("X-Query") != "v" || resp.Header.Get("X-Agent") != "adapter-test" || resp.Header.Get("X-Host") != addr {
			t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
		}
		resp, err = client.Get("http://" + addr + "/flush")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "<html>ab" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("flush: %q %v", body, resp.Header)
		}
		resp, err = client.Get("http://" + addr + "/missing")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("missing: %d", resp.StatusCode)
		}
	})
}

// The mounted handler's r.Context() ends when the client goes away, as in
// net/http, so a handler waiting on it is not left behind.
func TestFromNetHTTPContextEndsWithClient(t *testing.T) {
	type result struct {
		err     error
		elapsed time.Duration
	}
	res := make(chan result, 1)
	h := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			res <- result{r.Context().Err(), time.Since(start)}
		case <-time.After(5 * time.Second):
			res <- result{nil, time.Since(start)}
		}
	})
	forBackends(t, func(t *testing.T, backend string) {
		addr, _ := startServer(t, backend, Settings{}, FromNetHTTP(h))
		c := dial(t, addr)
		io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(50 * time.Millisecond) // the handler is waiting
		c.Close()
		r := <-res
		if r.err == nil {
			t.Fatalf("r.Context() still alive %v after the client closed", r.elapsed)
		}
		if r.elapsed > 2*time.Second {
			t.Fatalf("r.Context() ended %v after the client closed", r.elapsed)
		}
	})
}

// A mounted net/http handler can hijack an upgrade request, as WebSocket
// libraries do: the net.Conn carries the bytes sent after the request, its
// writes reach the client, its deadlines work, and the peer's FIN is an
// io.EOF on Read while writing still works.
func TestFromNetHTTPHijack(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		errc := make(chan error, 1)
		testHijack(t, backend, errc, hijackMux(errc))
	})
}

func hijackMux(errc chan<- error) *nethttp.ServeMux {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/ws", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		hj, ok := w.(nethttp.Hijacker)
		if !ok {
			nethttp.Error(w, "not a Hijacker", 500)
			errc <- fmt.Errorf("%T is not an http.Hijacker", w)
			return
		}
		nc, brw, err := hj.Hijack()
		if err != nil {
			nethttp.Error(w, err.Error(), 500)
			errc <- err
			return
		}
		errc <- func() error {
			defer nc.Close()
			if _, err := w.Write([]byte("x")); !errors.Is(err, nethttp.ErrHijacked) {
				return fmt.Errorf("Write after Hijack: %v, want ErrHijacked", err)
			}
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			if err := brw.Flush(); err != nil {
				return err
			}
			nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			if _, err := brw.ReadString('\n'); err != nil {
				return fmt.Errorf("the line sent with the request: %w", err)
			}
			for {
				line, err := brw.ReadString('\n')
				if err == io.EOF {
					_, err = io.WriteString(nc, "bye")
					return err
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					io.WriteString(nc, "timeout\n")
					nc.SetReadDeadline(time.Time{})
					continue
				}
				if err != nil {
					return err
				}
				if _, err := io.WriteString(nc, strings.ToUpper(line)); err != nil {
					return err
				}
			}
		}()
	})
	return mux
}

func testHijack(t *testing.T, backend string, errc <-chan error, mux nethttp.Handler) {
	addr, _ := startServer(t, backend, Settings{}, FromNetHTTP(mux))
	c := dial(t, addr)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nfirst\n")
	br := bufio.NewReader(c)
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "timeout\n" {
		t.Fatalf("got %q, want the read deadline to fire", line)
	}
	io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "HELLO\n" {
		t.Fatalf("echo: %q", line)
	}
	c.(*net.TCPConn).CloseWrite()
	rest, _ := io.ReadAll(br)
	if string(rest) != "bye" {
		t.Fatalf("after the FIN: %q, want bye then EOF", rest)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
