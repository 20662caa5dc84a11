//go:build linux

package server_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/server"
)

// watchedServer starts an EmbeddedServer watching paths whose OnChange
// reports into the returned channel instead of restarting.
func watchedServer(t *testing.T, paths ...string) (*server.Server, chan string) {
	t.Helper()
	changed := make(chan string, 16)
	srv, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "std"},
		WatchPaths: paths,
		OnChange:   func(p string) { changed <- p },
	}, func(a *server.App) { a.WebSocket("/", rawws.Options{MessageHandler: echoMessages}) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, changed
}

func expectChange(t *testing.T, changed chan string, want string) {
	t.Helper()
	select {
	case p := <-changed:
		if p != want {
			t.Errorf("change reported for %s, want %s", p, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no change reported for %s", want)
	}
}

func expectQuiet(t *testing.T, changed chan string, d time.Duration) {
	t.Helper()
	select {
	case p := <-changed:
		t.Errorf("unexpected change %s", p)
	case <-time.After(d):
	}
}

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.conf")
	other := filepath.Join(dir, "other.txt")
	for _, p := range []string{file, other} {
		if err := os.WriteFile(p, []byte("v1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, changed := watchedServer(t, file)

	// A burst of writes is one change (debounced).
	for i := range 5 {
		os.WriteFile(file, []byte("v"+strconv.Itoa(i)), 0o644)
	}
	expectChange(t, changed, file)
	expectQuiet(t, changed, 300*time.Millisecond)

	// A sibling that is not watched changes nothing.
	os.WriteFile(other, []byte("v2"), 0o644)
	expectQuiet(t, changed, 300*time.Millisecond)

	// Editors save by renaming a new file over the old one.
	tmp := filepath.Join(dir, ".app.conf.swp")
	os.WriteFile(tmp, []byte("v3"), 0o644)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changed, file)
}

func TestWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	_, changed := watchedServer(t, dir)
	created := filepath.Join(dir, "new.tmpl")
	os.WriteFile(created, []byte("x"), 0o644)
	expectChange(t, changed, created)
	os.Remove(created)
	expectChange(t, changed, created)
}

func TestWatchMissingPath(t *testing.T) {
	_, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "std"}, WatchPaths: []string{filepath.Join(t.TempDir(), "none")}}, nil)
	if err == nil {
		t.Fatal("watching a missing path succeeded")
	}
}

// After Shutdown the watcher is gone: changes call nothing.
func TestWatchStopsOnShutdown(t *testing.T) {
	dir := t.TempDir()
	srv, changed := watchedServer(t, dir)
	srv.Close()
	os.WriteFile(filepath.Join(dir, "late"), []byte("x"), 0o644)
	expectQuiet(t, changed, 300*time.Millisecond)
}

// A restarted binary finds its listening socket in RAWWS_LISTEN_FD and
// serves on it: the socket the old process listened on, so no client is
// refused across the restart.
func TestEmbeddedServerInheritsListener(t *testing.T) {
	ln := listenLocal(t)
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RAWWS_LISTEN_FD", strconv.Itoa(fd))
	srv, err := server.Embedded(server.EmbeddedConfig{Config: server.Config{Backend: "epoll"}, Port: 1}, func(a *server.App) {
		a.WebSocket("/", rawws.Options{MessageHandler: echoMessages})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, set := os.LookupEnv("RAWWS_LISTEN_FD"); set {
		t.Error("RAWWS_LISTEN_FD still set: children would inherit it")
	}
	if got, want := srv.Addr().String(), ln.Addr().String(); got != want {
		t.Fatalf("serving on %s, want the inherited %s", got, want)
	}
	c := dialWS(t, ln.Addr().String(), "/", nil)
	c.send(t, frame.OpText, []byte("same socket"))
	c.expect(t, frame.OpText, "same socket")
	c.c.Close()
}
