package rawws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rawws/rawws/frame"
)

// ErrShutdownTimeout is the cause of sessions that had not finished their
// close handshake when Shutdown's context ended; they were closed at once.
var ErrShutdownTimeout = errors.New("rawws: shutdown deadline reached")

// goingAway is the close payload the drain sends: 1001 and a reason.
var goingAway = func() []byte {
	p, err := frame.AppendCloseReason(nil, frame.CloseReason{Code: frame.CloseGoingAway, Text: "server shutting down"})
	if err != nil {
		panic(err)
	}
	return p
}()

// Shutdown drains the server gracefully:
//
//  1. it stops accepting (the listeners are closed) and refuses new
//     handshakes with 503;
//  2. every live session gets a Close frame 1001 "server shutting down",
//     queued behind the frames already queued, so every message sent
//     before Shutdown still reaches its client first;
//  3. it waits for the sessions to finish the close handshake (message
//     mode answers the peer's Close and closes; raw and channel sessions
//     are half-closed after the 1001 and end when the peer closes) and for
//     HTTP requests in flight to be answered;
//  4. when ctx ends first, whatever is left is closed at once (sessions
//     end with ErrShutdownTimeout) and the error wraps ctx.Err().
//
// The engine the server started is shut down last; an engine given with
// WithEngine is left running. Serve returns ErrServerClosed. Shutdown may
// be called more than once; later calls wait for the first to finish.
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
	live := append([]*Session(nil), s.sessions...)
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

	for _, sess := range live {
		s.goAway(sess)
	}

	var err error
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.Sessions() > 0 {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("rawws: shutdown: %d sessions left: %w", s.Sessions(), ctx.Err())
			break wait
		case <-tick.C:
		}
	}
	if herr := <-httpDone; herr != nil && err == nil {
		err = fmt.Errorf("rawws: shutdown: http: %w", herr)
	}
	// Whatever is left did not make it in time.
	for _, sess := range s.liveSessions() {
		sess.Close(ErrShutdownTimeout)
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

// goAway starts the close handshake of one session for the drain. The
// Close frame is a control frame: it skips the frame cap, so a full
// outgoing queue still gets it (behind the queued frames).
func (s *Server) goAway(sess *Session) {
	if sess.flags.Or(flagDrained)&flagDrained != 0 {
		return
	}
	sess.enqueueControl(frame.OpClose, goingAway)
	if sess.mode == modeChannel {
		// Channel sessions may not be reading Incoming; half-close now so
		// the peer's EOF ends them without anyone on our side answering.
		sess.Terminate()
	}
}

// drained reports whether the server sent sess its drain Close.
func (s *Server) drained(sess *Session) bool {
	return sess.flags.Load()&flagDrained != 0
}
