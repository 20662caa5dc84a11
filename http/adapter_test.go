package http

import (
	"io"
	nethttp "net/http"
	"strings"
	"testing"
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
