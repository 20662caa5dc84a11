package server

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// A program that imports the server gets the epoll loop on Linux and
// never cloudwego/netpoll, which only a program importing poller/netpoll
// links (the tests of this package do, to run on every backend).
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
		t.Fatalf("the server package links netpoll:\n%s", deps)
	}
	if runtime.GOOS == "linux" && !strings.Contains(deps, "github.com/rawws/rawws/poller/epoll\n") {
		t.Fatal("the server package does not link its default backend, poller/epoll")
	}
}
