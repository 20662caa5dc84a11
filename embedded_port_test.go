package rawws_test

import (
	"net"
	"testing"

	"github.com/rawws/rawws"
	rhttp "github.com/rawws/rawws/http"
)

// ServerConfig{Port: 0} is a free port the OS picks, for every server in
// the process at once, never the http package's old default 8080; the
// port in ServerConfig.HTTP is not the one listened on (the config's own
// Port is).
func TestEmbeddedServerPortZeroIsFree(t *testing.T) {
	seen := map[int]bool{}
	for range 2 {
		srv, err := rawws.EmbeddedServer("std", rawws.ServerConfig{HTTP: rhttp.Settings{Port: 1}}, nil)
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
}
