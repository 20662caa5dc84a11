package rawws

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// pinger is the state of Pinger for one session.
type pinger struct {
	s               *Session
	period, timeout time.Duration

	mu      sync.Mutex
	payload [8]byte
	waiting bool // a ping is out and its pong has not come
	stopped bool
	tick    poller.Timer
	expire  poller.Timer
}

// Pinger makes s send a Ping with a fresh random 8-byte payload every
// period, and wait up to timeout for a Pong carrying exactly that payload
// (other pongs do not count). When none comes in time the session sends
// Close 1011 "ping timeout" and ends with ErrPingTimeout. No ping is sent
// while one is still unanswered. Pongs are still delivered to the
// application in raw modes.
//
// Timers run on the engine's timing wheel; no goroutine or time.Timer is
// created. A session has at most one Pinger: a new one replaces the old.
// The returned function stops it; it also stops when the session ends.
//
// Pinger checks its arguments rather than misbehaving: a nil s, or a
// period or timeout that is not positive, fails with an error wrapping
// ErrInvalidArgument, and a session that is closing or has ended fails
// with one matching ErrClosed and the session's cause. Nothing is started
// then, and the returned stop function does nothing.
func Pinger(s *Session, period, timeout time.Duration) (stop func(), err error) {
	if s == nil {
		return func() {}, fmt.Errorf("rawws: pinger: nil session: %w", ErrInvalidArgument)
	}
	if period <= 0 || timeout <= 0 {
		return func() {}, fmt.Errorf("rawws: pinger: period %v and timeout %v must be positive: %w", period, timeout, ErrInvalidArgument)
	}
	c := s.Conn()
	if c == nil {
		return func() {}, fmt.Errorf("rawws: pinger: session not attached to a connection: %w", ErrInvalidArgument)
	}
	p := &pinger{s: s, period: period, timeout: timeout}
	if old := s.coldState().pongHook.Swap(p); old != nil {
		old.Stop()
	}
	// After the swap: a session ending from here on stops p itself.
	s.mu.Lock()
	if s.sendClosed {
		err := s.closedErrLocked("pinger", nil)
		s.mu.Unlock()
		p.Stop()
		return func() {}, err
	}
	s.mu.Unlock()
	p.mu.Lock()
	p.tick = c.AfterFunc(period, p.ping)
	p.mu.Unlock()
	return p.Stop, nil
}

// ping sends the next ping (on the wheel's goroutine). p.mu is not held
// while queueing: a failing write can end the session, which stops p.
func (p *pinger) ping() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	send := !p.waiting
	var payload [8]byte
	if send {
		binary.LittleEndian.PutUint64(p.payload[:], rand.Uint64())
		payload = p.payload
		p.waiting = true
	}
	p.mu.Unlock()
	c := p.s.Conn()
	if send && !p.s.enqueueControl(frame.OpPing, payload[:]) {
		p.Stop() // the session is closing
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	if send {
		p.expire = c.AfterFunc(p.timeout, p.timedOut)
	}
	p.tick = c.AfterFunc(p.period, p.ping)
}

// onPong is called on the loop for every pong received.
func (p *pinger) onPong(payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.waiting || !bytes.Equal(payload, p.payload[:]) {
		return
	}
	p.waiting = false
	if p.expire != nil {
		p.expire.Stop()
		p.expire = nil
	}
}

// timedOut fails the session when the pong did not come.
func (p *pinger) timedOut() {
	p.mu.Lock()
	fire := p.waiting && !p.stopped
	if fire {
		p.stopped = true
		if p.tick != nil {
			p.tick.Stop()
		}
	}
	p.mu.Unlock()
	if fire {
		p.s.fail(frame.CloseInternalError, "ping timeout", ErrPingTimeout)
	}
}

// Stop cancels the pinger's timers.
func (p *pinger) Stop() {
	p.mu.Lock()
	p.stopped = true
	if p.tick != nil {
		p.tick.Stop()
	}
	if p.expire != nil {
		p.expire.Stop()
	}
	p.mu.Unlock()
	p.s.coldState().pongHook.CompareAndSwap(p, nil)
}
