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

// errCloseUnfinished ends a session whose peer had not finished the
// closing handshake within closeWait.
var errCloseUnfinished = errors.New("rawws-bench: closing handshake not finished in time")

// closeAll ends sessions with the closing handshake, so the server sees a
// clean 1000 instead of a dropped connection (1006): Close 1000 on every
// session at once, then one wait of at most closeWait for the peers to
// answer and end TCP. Sessions still open then are closed. It returns how
// many did not end cleanly in time (a session that had already failed
// counts too).
//
// A clean end is one whose Err is nil or a peer's normal Close: the
// session reports a peer's answer to our Close as nil, and so it does a
// peer that closes TCP without answering, which is the one unclean end
// this cannot see.
func closeAll(sessions []*rawws.Session) (unfinished int64) {
	for _, s := range sessions {
		// An error means the session no longer sends (it ended, or a Close
		// went out already); its end below tells which.
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
		select {
		case <-s.Done():
			if !rawws.IsNormalClosure(s.Err()) {
				unfinished++
			}
		default:
			unfinished++
			s.Close(errCloseUnfinished)
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
			return unfinished
		}
	}
	return unfinished
}
