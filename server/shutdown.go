package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Shutdown drains the server gracefully:
//
//  1. it stops accepting (the listeners are closed) and refuses new
//     handshakes with 503;
//  2. it drains its Group (rawws.Group.Drain): every live session gets a
//     Close frame 1001 "server shutting down", queued behind the frames
//     already queued, so every message sent before Shutdown still reaches
//     its client first;
//  3. it waits for the sessions to finish the close handshake and for
//     HTTP requests in flight to be answered;
//  4. when ctx ends first, whatever is left is closed at once (sessions
//     end with rawws.ErrShutdownTimeout) and the error wraps ctx.Err().
//
// The engine the server started is shut down last; an engine given in
// Config.Engine is left running. Serve returns ErrServerClosed. Shutdown
// may be called more than once; later calls wait for the first to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	first := false
	s.shutOnce.Do(func() {
		first = true
		s.doneErr = s.shutdown(ctx)
		close(s.done)
	})
	if !first {
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.doneErr
}

// Close is Shutdown without waiting: every connection is closed now.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	lns := append([]net.Listener(nil), s.lns...)
	w := s.watch
	s.mu.Unlock()
	// The HTTP server closes the listeners it serves; this closes those
	// the server accepts from itself (acceptEach) too.
	for _, ln := range lns {
		ln.Close()
	}
	if w != nil {
		w.Close()
	}

	// The HTTP server stops accepting, answers the requests in flight and
	// closes its connections; hijacked ones are ours and drained below.
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Shutdown(ctx) }()

	err := s.group.Drain(ctx)
	if herr := <-httpDone; herr != nil && err == nil {
		err = fmt.Errorf("rawws: shutdown: http: %w", herr)
	}
	if s.group.Len() > 0 {
		// Sessions upgraded by requests the HTTP server answered during
		// the drain: the deadline is over for them too.
		now, cancel := context.WithCancel(context.Background())
		cancel()
		s.group.Drain(now)
	}
	if s.own {
		ectx := ctx
		if ctx.Err() != nil {
			// Give the engine a moment to run the OnClose calls above.
			var cancel context.CancelFunc
			ectx, cancel = context.WithTimeout(context.Background(), time.Second)
			defer cancel()
		}
		if e := s.eng.Shutdown(ectx); e != nil && err == nil && ctx.Err() == nil {
			err = fmt.Errorf("rawws: shutdown: engine: %w", e)
		}
	}
	retireServer(s)
	return err
}
