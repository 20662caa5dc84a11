package main

import (
	"errors"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// closeWait bounds the closing handshake of one scenario's connections,
// all of them together: a peer that never answers must not hold a run.
const closeWait = 2 * time.Second

// errCloseUnanswered ends a session whose peer did not answer our Close
// within closeWait.
var errCloseUnanswered = errors.New("rawws-bench: peer did not answer Close 1000 in time")

// closeAll ends sessions with the closing handshake, so the server sees a
// clean 1000 instead of a dropped connection (1006): Close 1000 on every
// session at once, then one wait of at most closeWait for the peers' Close
// and their end of TCP. Sessions still open then are closed. It returns how
// many peers never sent their Close (a session that had already ended
// before counts too: it cannot have completed the handshake).
func closeAll(sessions []*rawws.Session) (unanswered int64) {
	for _, s := range sessions {
		// An error means the session no longer sends (it ended, or a Close
		// went out already); answered below tells which.
		_ = s.SendClose(frame.CloseReason{Code: frame.CloseNormal})
	}
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	late := false
	var forced []*rawws.Session
	for _, s := range sessions {
		if !late {
			select {
			case <-s.Done():
			case <-deadline.C:
				late = true
			}
		}
		if !answered(s) {
			unanswered++
		}
		select {
		case <-s.Done():
		default:
			// The peer's Close may be in with its FIN still to come: the
			// handshake is done either way, only the socket is left.
			s.Close(errCloseUnanswered)
			forced = append(forced, s)
		}
	}
	// Close does not wait; give the loops a moment so the descriptors are
	// gone before the next scenario starts.
	grace := time.After(time.Second)
	for _, s := range forced {
		select {
		case <-s.Done():
		case <-grace:
			return unanswered
		}
	}
	return unanswered
}

// answered reports whether the peer's Close frame reached s: in message
// mode that, and only that, makes the session's cause a *CloseError.
func answered(s *rawws.Session) bool {
	var ce *rawws.CloseError
	return errors.As(s.Err(), &ce)
}
