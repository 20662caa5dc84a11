package rawws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	rhttp "github.com/rawws/rawws/http"
	"github.com/rawws/rawws/poller"
)

// ErrWatchUnsupported: ServerConfig.WatchPaths needs inotify, which only
// Linux has.
var ErrWatchUnsupported = errors.New("rawws: watching files is only supported on linux")

// Defaults of ServerConfig.
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

// ServerConfig configures EmbeddedServer (the seed's embeddedServer
// parameters and the engine's configure block). The zero value listens on
// 127.0.0.1 on a port the OS picks.
type ServerConfig struct {
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
	// EmbeddedServer fails with ErrWatchUnsupported. Not for production.
	WatchPaths []string
	// OnChange, when set, is called with the changed path instead of the
	// restart (on the watcher's goroutine).
	OnChange func(path string)
	// IdleTimeout closes HTTP connections idle for this long (default
	// http.DefaultIdleTimeout). WebSocket sessions are not subject to it.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the drain of a development restart (default
	// DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// HTTP holds the other HTTP limits (header and body caps, timeouts);
	// its Host, Port, IdleTimeout and Engine fields are ignored.
	HTTP rhttp.Settings
	// Engine tunes the poller engine (loops, buffer caps, tick).
	Engine poller.Config
}

// EmbeddedServer is the seed's embeddedServer: it starts an engine of the
// named poller backend (the factory; "" picks http.DefaultBackend), lets module register the App's HTTP routes and
// WebSocket endpoints, listens on cfg.Host:cfg.Port and serves on a
// goroutine of its own. It returns once the server accepts connections;
// stop it with Shutdown (graceful) or Close, and Wait for the end.
//
// Errors: an unknown backend (poller.ErrUnknownBackend), a failed listen,
// or a watch that cannot start (ErrWatchUnsupported off Linux).
func EmbeddedServer(backend string, cfg ServerConfig, module func(*App)) (*Server, error) {
	if len(cfg.WatchPaths) > 0 && !watchSupported {
		return nil, fmt.Errorf("rawws: embedded server: %w", ErrWatchUnsupported)
	}
	set := cfg.HTTP
	set.IdleTimeout = cfg.IdleTimeout
	srv, err := NewServer(module, WithBackend(backend), WithHTTPSettings(set), WithEngineConfig(cfg.Engine))
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

// Wait blocks until an EmbeddedServer has stopped: it returns nil after a
// clean Shutdown, the drain's error, or the listener's error when the
// server stopped because the listener failed. For servers that were not
// built by EmbeddedServer it waits for Shutdown to finish.
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
