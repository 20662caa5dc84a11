package rawws

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/rawws/rawws/frame"
)

// Errors a Session reports, wrapped with context where there is some; test
// them with errors.Is.
var (
	// ErrClosed: the session no longer accepts frames (Close, Terminate,
	// CloseWith, a Close frame already queued, or the connection is gone).
	ErrClosed = errors.New("rawws: session closed")
	// ErrFrameTooBig: a peer's frame header announced more than MaxFrameSize
	// bytes; the session answered Close 1009 and ended.
	ErrFrameTooBig = errors.New("rawws: frame too big")
	// ErrMessageTooBig: a reassembled message would exceed MaxMessageSize;
	// the session answered Close 1009 and ended.
	ErrMessageTooBig = errors.New("rawws: message too big")
	// ErrQueueFull: an event-mode send found the outgoing queue at its frame
	// or byte cap and Options.QueueFull is QueueFullError. Nothing was queued.
	ErrQueueFull = errors.New("rawws: outgoing queue full")
	// ErrPingTimeout: no matching pong arrived within the Pinger's timeout;
	// the session sent Close 1011 "ping timeout" and ended.
	ErrPingTimeout = errors.New("rawws: ping timeout")
	// ErrCloseTimeout: the peer did not finish the close handshake in
	// Options.CloseTimeout; the connection was closed.
	ErrCloseTimeout = errors.New("rawws: close handshake timeout")
	// ErrWriteTimeout: the peer read nothing of the session's output for
	// Options.WriteTimeout while it waited; the connection was closed.
	ErrWriteTimeout = errors.New("rawws: write timeout: the peer stopped reading")
	// ErrHandshake wraps every client handshake failure (bad status, missing
	// or wrong Sec-WebSocket-Accept, malformed response).
	ErrHandshake = errors.New("rawws: websocket handshake failed")
	// ErrBadURL: Dial was given a URL it cannot use.
	ErrBadURL = errors.New("rawws: bad websocket URL")
	// ErrInvalidFrame: Send was given a frame RFC 6455 forbids: a reserved
	// opcode, a control frame over 125 bytes or fragmented, RSV bits no
	// extension negotiated, a continuation with no fragmented message
	// open, or a data frame of another type while one is open. Nothing was
	// queued and the session goes on.
	ErrInvalidFrame = errors.New("rawws: invalid frame")
	// ErrInvalidArgument: a function was given an argument it cannot run
	// with (such as a Pinger period of zero). Nothing was started.
	ErrInvalidArgument = errors.New("rawws: invalid argument")
)

// closedErrLocked is the error of an operation refused or cut short
// because the session no longer sends: it matches ErrClosed, the session's
// cause (what Err reports, such as the error given to Close), and extra
// (the connection's error that came with it) when there is one. mu is held.
func (s *Session) closedErrLocked(op string, extra error) error {
	cause := s.errLocked()
	if extra != nil && cause != nil && errors.Is(cause, extra) {
		extra = nil
	}
	switch {
	case cause != nil && extra != nil:
		return fmt.Errorf("rawws: %s: %w: %w (%w)", op, ErrClosed, cause, extra)
	case cause != nil:
		return fmt.Errorf("rawws: %s: %w: %w", op, ErrClosed, cause)
	case extra != nil:
		return fmt.Errorf("rawws: %s: %w: %w", op, ErrClosed, extra)
	}
	return fmt.Errorf("rawws: %s: %w", op, ErrClosed)
}

// closedErr is closedErrLocked for callers without mu.
func (s *Session) closedErr(op string, extra error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closedErrLocked(op, extra)
}

// CloseError is how a session that ended with a peer's Close frame reports
// it (in OnClose and Err): the code and reason the peer sent. Code is
// frame.CloseNoStatus when the Close frame carried no payload.
type CloseError struct {
	Code   frame.CloseCode
	Reason string
}

// Error reports the code and reason.
func (e *CloseError) Error() string {
	s := "rawws: peer closed: " + strconv.Itoa(int(e.Code))
	if e.Reason != "" {
		s += " " + strconv.Quote(e.Reason)
	}
	return s
}

// IsNormalClosure reports whether err is a clean end of a session: nil, or
// a peer Close with 1000 (normal), 1001 (going away) or no status.
func IsNormalClosure(err error) bool {
	if err == nil {
		return true
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code == frame.CloseNormal || ce.Code == frame.CloseGoingAway || ce.Code == frame.CloseNoStatus
	}
	return false
}
