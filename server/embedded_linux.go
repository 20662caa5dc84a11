//go:build linux

package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const watchSupported = true

// inheritedListener returns the listening socket a restarting parent
// passed in RAWWS_LISTEN_FD, or nil when there is none. The variable is
// cleared so that processes this one starts do not inherit it.
func inheritedListener() (net.Listener, error) {
	v, ok := os.LookupEnv(listenFDEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(listenFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a descriptor", listenFDEnv, v)
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "inherited-listener")
	defer f.Close() // FileListener holds a duplicate
	return net.FileListener(f)
}

// restart drains the server and re-executes the binary with the same
// arguments, handing it the listening socket. The socket stays open the
// whole time (a duplicate without close-on-exec survives Shutdown and the
// exec), so clients that connect meanwhile wait in the backlog until the
// new process accepts them. If the exec fails the server stays down and
// Wait reports why.
func (s *Server) restart(timeout time.Duration) {
	fd, err := s.dupListener()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		s.Shutdown(ctx)
		cancel()
		var exe string
		if exe, err = os.Executable(); err == nil {
			env := make([]string, 0, len(os.Environ())+1)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, listenFDEnv+"=") {
					env = append(env, kv)
				}
			}
			env = append(env, listenFDEnv+"="+strconv.Itoa(fd))
			err = syscall.Exec(exe, os.Args, env) // returns only on failure
		}
		unix.Close(fd)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		s.Shutdown(ctx)
		cancel()
	}
	s.restartErr.Store(&err)
}

// dupListener duplicates the first listener's socket without
// close-on-exec.
func (s *Server) dupListener() (int, error) {
	s.mu.Lock()
	var ln net.Listener
	if len(s.lns) > 0 {
		ln = s.lns[0]
	}
	s.mu.Unlock()
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("rawws: restart: listener %T has no descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("rawws: restart: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(p uintptr) { fd, derr = unix.Dup(int(p)) }); err != nil {
		return -1, fmt.Errorf("rawws: restart: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("rawws: restart: dup: %w", derr)
	}
	return fd, nil
}
