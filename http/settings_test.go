package http

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Port 0 is a free port the OS picks, as in net.Listen and the root
// package's ServerConfig, not 8080.
func TestSettingsPortZeroIsFree(t *testing.T) {
	srv := NewServer(Settings{Host: "127.0.0.1", Backend: "std"}, echoPath)
	if p := srv.Settings().Port; p != 0 {
		t.Fatalf("Settings().Port = %d, want 0 kept", p)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	var addr net.Addr
	for deadline := time.Now().Add(2 * time.Second); addr == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		addr = srv.Addr()
	}
	if a, ok := addr.(*net.TCPAddr); !ok || a.Port == 0 || a.Port == 8080 {
		t.Fatalf("listening on %v, want a free port", addr)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if err := <-done; err != ErrServerClosed {
		t.Fatalf("ListenAndServe = %v", err)
	}
}

// Importing only the http package serves on the epoll loop on Linux, not
// a goroutine per connection.
func TestDefaultBackend(t *testing.T) {
	want := "std"
	if runtime.GOOS == "linux" {
		want = "epoll"
	}
	srv := NewServer(Settings{}, echoPath)
	if b := srv.Settings().Backend; b != want {
		t.Fatalf("Settings().Backend = %q, want %q", b, want)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.mu.Lock()
	eng := srv.eng
	srv.mu.Unlock()
	if eng == nil || eng.Name() != want {
		t.Fatalf("serving on %v, want %q", eng, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	<-done
}

// A backend that is named but not linked in fails loudly, saying what to
// import.
func TestBackendNotLinked(t *testing.T) {
	for _, name := range []string{"kqueue", "io_uring"} {
		srv := NewServer(Settings{Backend: name}, echoPath)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		err = srv.Serve(ln)
		if !errors.Is(err, ErrBackendNotLinked) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "import") {
			t.Fatalf("Serve with backend %q: %v, want ErrBackendNotLinked naming it and what to import", name, err)
		}
	}
	if got := backendImport("netpoll"); got != `_ "github.com/rawws/rawws/poller/netpoll"` {
		t.Fatalf("backendImport(netpoll) = %s", got)
	}
}

// The http package links epoll (its Linux default) but never netpoll: a
// binary gets cloudwego/netpoll only by importing its backend itself.
func TestNetpollNotLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := string(out)
	if strings.Contains(deps, "netpoll") {
		t.Fatalf("the http package links netpoll:\n%s", deps)
	}
	if runtime.GOOS == "linux" && !strings.Contains(deps, "github.com/rawws/rawws/poller/epoll\n") {
		t.Fatal("the http package does not link its default backend, poller/epoll")
	}
}
