package server_test

import (
	"net"
	"testing"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/server"
)

// EmbeddedConfig{Port: 0} is a free port the OS picks, for every server
// in the process at once, never the http package's old default 8080; a
// port in Config.HTTP, which would not be the one listened on, is refused.
func TestEmbeddedServerPortZeroIsFree(t *testing.T) {
	seen := map[int]bool{}
	for range 2 {
		srv, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "std"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		a, ok := srv.Addr().(*net.TCPAddr)
		if !ok || a.Port == 0 || a.Port == 1 || a.Port == 8080 || !a.IP.IsLoopback() {
			t.Fatalf("listening on %v, want a free loopback port", srv.Addr())
		}
		if seen[a.Port] {
			t.Fatalf("two servers on port %d", a.Port)
		}
		seen[a.Port] = true
	}
	if _, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "std", HTTP: rhttp.Settings{Port: 1}}}, nil); err == nil {
		t.Fatal("Config.HTTP.Port accepted, though the server never listens on it")
	}
}
