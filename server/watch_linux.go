//go:build linux

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchMask is every change that can make a development build stale:
// writes, and files created, removed, renamed or re-permissioned.
const watchMask = unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_ATTRIB

// watcher reports changes under a set of paths through inotify. A file is
// watched through its directory, filtered by name, because editors save by
// writing a new file and renaming it over the old one, which would end a
// watch on the file itself.
type watcher struct {
	f        *os.File
	debounce time.Duration
	onChange func(path string)
	dirs     map[int32]string           // watch descriptor → directory
	names    map[string]map[string]bool // directory → watched names (nil: all)
	once     sync.Once
	done     chan struct{}
}

// newWatcher starts watching paths (files or directories, not
// recursively). onChange runs on the watcher's goroutine with the first
// changed path once no further change came for debounce. Errors wrap the
// failing path.
func newWatcher(paths []string, debounce time.Duration, onChange func(path string)) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("rawws: watch: inotify: %w", err)
	}
	w := &watcher{
		// A non-blocking fd makes a pollable File: Read parks the goroutine
		// in the runtime's poller and Close wakes it.
		f:        os.NewFile(uintptr(fd), "inotify"),
		debounce: debounce,
		onChange: onChange,
		dirs:     map[int32]string{},
		names:    map[string]map[string]bool{},
		done:     make(chan struct{}),
	}
	for _, p := range paths {
		if err := w.add(fd, p); err != nil {
			w.f.Close()
			return nil, err
		}
	}
	go w.run()
	return w, nil
}

// add watches p: a directory as a whole, a file through its directory.
func (w *watcher) add(fd int, p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return fmt.Errorf("rawws: watch %s: %w", p, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("rawws: watch: %w", err)
	}
	dir, name := abs, ""
	if !fi.IsDir() {
		dir, name = filepath.Dir(abs), filepath.Base(abs)
	}
	if _, ok := w.names[dir]; !ok {
		wd, err := unix.InotifyAddWatch(fd, dir, watchMask)
		if err != nil {
			return fmt.Errorf("rawws: watch %s: %w", dir, err)
		}
		w.dirs[int32(wd)] = dir
		w.names[dir] = map[string]bool{}
	}
	switch set := w.names[dir]; {
	case set == nil: // the whole directory already
	case name == "":
		w.names[dir] = nil
	default:
		set[name] = true
	}
	return nil
}

// run reads events until Close, debouncing bursts (an editor's save is
// several events) into one onChange call.
func (w *watcher) run() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	events := make(chan string, 1)
	go w.deliver(events)
	defer close(events)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			name := string(nameBytes)
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			dir, ok := w.dirs[ev.Wd]
			if !ok {
				continue
			}
			if set := w.names[dir]; set != nil && !set[name] {
				continue
			}
			select {
			case events <- filepath.Join(dir, name):
			default: // a change is already pending: the burst is one change
			}
		}
	}
}

// deliver calls onChange once per burst of changes.
func (w *watcher) deliver(events <-chan string) {
	for p := range events {
		t := time.NewTimer(w.debounce)
	quiet:
		for {
			select {
			case _, ok := <-events:
				if !ok {
					t.Stop()
					return
				}
				t.Reset(w.debounce)
			case <-t.C:
				break quiet
			}
		}
		w.onChange(p)
	}
}

// Close stops watching; onChange is not called after Close returns, except
// for a call already running.
func (w *watcher) Close() error {
	var err error
	w.once.Do(func() {
		err = w.f.Close()
		<-w.done
	})
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return err
}
