//go:build linux

package server

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The restart keeps the listening socket open across the drain and the
// exec: a duplicate without close-on-exec survives Shutdown, a client
// connecting meanwhile waits in the backlog (not refused), and the next
// process accepts it from the inherited descriptor.
func TestRestartKeepsListeningSocket(t *testing.T) {
	srv, err := Embedded(EmbeddedConfig{Config: Config{Backend: "std"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	fd, err := srv.dupListener()
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Fatalf("duplicate flags %#x (%v): it would not survive exec", flags, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("connecting during the restart: %v", err)
	}
	defer c.Close()

	t.Setenv(listenFDEnv, strconv.Itoa(fd))
	ln, err := inheritedListener()
	if err != nil || ln == nil {
		t.Fatalf("inherited listener: %v %v", ln, err)
	}
	defer ln.Close()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		t.Error("the inherited descriptor is still open (FileListener keeps its own)")
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	a, err := ln.Accept()
	if err != nil {
		t.Fatalf("the client that connected during the restart was not accepted: %v", err)
	}
	a.Close()
	if _, set := os.LookupEnv(listenFDEnv); set {
		t.Error(listenFDEnv + " left set")
	}
}
