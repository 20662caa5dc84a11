package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIsTerminal: a pseudo-terminal is one; a file, a pipe and /dev/null
// (a character device, but no tty) are not.
func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, f := range map[string]*os.File{"file": f, "pipe": w, "/dev/null": null} {
		if isTerminal(f) {
			t.Errorf("%s taken for a terminal", name)
		}
	}
	pts, ptmx, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here (%v): only the negative cases ran", err)
	}
	defer ptmx.Close()
	defer pts.Close()
	if !isTerminal(pts) {
		t.Error("a pseudo-terminal not taken for one")
	}
}

// openPTY opens a new pseudo-terminal pair: its terminal side, and the
// master that must stay open while it is used.
func openPTY() (pts, ptmx *os.File, err error) {
	ptmx, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*os.File, *os.File, error) { ptmx.Close(); return nil, nil, err }
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fail(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fail(err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fail(err)
	}
	return pts, ptmx, nil
}
