package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// ErrWatchUnsupported: EmbeddedConfig.WatchPaths needs inotify, which
// only Linux has.
var ErrWatchUnsupported = errors.New("rawws: watching files is only supported on linux")

// Defaults of EmbeddedConfig.
const (
	// DefaultServerHost is loopback, unlike the seed's 0.0.0.0: a server is
	// reachable from other machines only when asked for ("0.0.0.0", "::"
	// or an interface address).
	DefaultServerHost = "127.0.0.1"
	// DefaultShutdownTimeout bounds the drain before a development restart.
	DefaultShutdownTimeout = 5 * time.Second
	// watchDebounce merges the burst of events one save makes.
	watchDebounce = 100 * time.Millisecond
	// listenFDEnv passes the listening socket to the re-executed binary.
	listenFDEnv = "RAWWS_LISTEN_FD"
)

// EmbeddedConfig configures Embedded (the seed's embeddedServer
// parameters and the engine's configure block; the seed's factory is
// Config.Backend). The zero value listens on 127.0.0.1 on a port the OS
// picks, on a new engine of http.DefaultBackend.
type EmbeddedConfig struct {
	// Config chooses and tunes the engine and the HTTP server, as for New;
	// Config.HTTP.IdleTimeout closes HTTP connections idle for that long
	// (WebSocket sessions are not subject to it).
	Config
	// Host to listen on; "" means DefaultServerHost (loopback).
	Host string
	// Port to listen on; 0 lets the OS pick a free one (Server.Addr tells
	// which). The seed's default, 80, needs privileges and is not assumed.
	Port int
	// WatchPaths are files or directories (not recursive) whose change
	// restarts the server during development: the server is drained
	// (Shutdown, bounded by ShutdownTimeout) and the binary re-executes
	// itself in the same process (syscall.Exec), keeping the listening
	// socket open across the exec, so connection attempts during the
	// restart wait in the listen backlog instead of being refused (on
	// netpoll, which accepts on its own duplicate of the socket until its
	// engine stops, one arriving during the drain may be accepted and
	// closed by the old process). Linux only (inotify): elsewhere
	// Embedded fails with ErrWatchUnsupported. Not for production.
	WatchPaths []string
	// OnChange, when set, is called with the changed path instead of the
	// restart (on the watcher's goroutine). It needs WatchPaths.
	OnChange func(path string)
	// ShutdownTimeout bounds the drain of a development restart (default
	// DefaultShutdownTimeout). It needs WatchPaths.
	ShutdownTimeout time.Duration
}

// Embedded is the seed's embeddedServer: it starts an engine of the
// backend cfg.Backend names (the factory; "" picks http.DefaultBackend),
// lets module register the App's HTTP routes and WebSocket endpoints,
// listens on cfg.Host:cfg.Port and serves on a goroutine of its own. It
// returns once the server accepts connections; stop it with Shutdown
// (graceful) or Close, and Wait for the end.
//
// Errors: an unknown backend (poller.ErrUnknownBackend), a Config New
// refuses, OnChange or ShutdownTimeout without WatchPaths, a failed
// listen, or a watch that cannot start (ErrWatchUnsupported off Linux).
func Embedded(cfg EmbeddedConfig, module func(*App)) (*Server, error) {
	if len(cfg.WatchPaths) == 0 && (cfg.OnChange != nil || cfg.ShutdownTimeout != 0) {
		return nil, errors.New("rawws: embedded server: OnChange and ShutdownTimeout need WatchPaths")
	}
	if len(cfg.WatchPaths) > 0 && !watchSupported {
		return nil, fmt.Errorf("rawws: embedded server: %w", ErrWatchUnsupported)
	}
	srv, err := New(module, cfg.Config)
	if err != nil {
		return nil, err
	}
	ln, err := inheritedListener()
	if err == nil && ln == nil {
		host := cfg.Host
		if host == "" {
			host = DefaultServerHost
		}
		ln, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.Port)))
	}
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("rawws: embedded server: listen: %w", err)
	}
	srv.mu.Lock()
	srv.lns = append(srv.lns, ln) // Addr works as soon as we return
	srv.mu.Unlock()
	if len(cfg.WatchPaths) > 0 {
		onChange := cfg.OnChange
		if onChange == nil {
			timeout := cfg.ShutdownTimeout
			if timeout <= 0 {
				timeout = DefaultShutdownTimeout
			}
			onChange = func(string) { srv.restart(timeout) }
		}
		w, err := newWatcher(cfg.WatchPaths, watchDebounce, onChange)
		if err != nil {
			ln.Close()
			srv.Close()
			return nil, err
		}
		srv.mu.Lock()
		srv.watch = w
		srv.mu.Unlock()
	}
	srv.waitErr = make(chan error, 1)
	go func() {
		err := srv.serveListener(ln)
		if !errors.Is(err, ErrServerClosed) {
			// The listener failed: nothing can reach the server any more.
			ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
			srv.Shutdown(ctx)
			cancel()
		} else {
			<-srv.done
			err = srv.doneErr
		}
		srv.waitErr <- err
	}()
	return srv, nil
}

// Wait blocks until a server built by Embedded has stopped: it returns nil after a
// clean Shutdown, the drain's error, or the listener's error when the
// server stopped because the listener failed. For servers that were not
// built by Embedded it waits for Shutdown to finish.
func (s *Server) Wait() error {
	if s.waitErr == nil {
		<-s.done
		return s.doneErr
	}
	err := <-s.waitErr
	s.waitErr <- err // later calls see it too
	if re := s.restartErr.Load(); re != nil && *re != nil {
		return fmt.Errorf("rawws: restart: %w", *re)
	}
	return err
}
