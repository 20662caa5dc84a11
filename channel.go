package rawws

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/rawws/rawws/frame"
)

// Channel mode: Incoming, Outgoing and Start, the seed's API, with the
// goroutines that exist only for the sessions that ask for them.

// chanState is the channel-mode delivery state, apart from Session so
// event-mode sessions (most of them, and the idle ones) do not carry it.
type chanState struct {
	incoming chan frame.Frame
	stalled  atomic.Bool // a frame waits for room in incoming; reading is paused
	inMu     sync.Mutex
	inClose  bool // close incoming once the stalled frame is delivered
	inDone   bool // incoming is closed
	killed   chan struct{}
}

// Incoming returns the channel of frames received, in channel mode (nil in
// event modes). Each frame owns its payload. The channel holds
// Options.IncomingFrames frames; while it is full the session stops reading
// the connection, so TCP pushes back on the peer (on backends that cannot
// stop reading, the engine's input cap ends the connection instead). It is
// closed when the connection is gone or the peer has half-closed (sent
// FIN: the session may still send, see Session on half-close); drain it or Close the
// session, or a stalled frame keeps one goroutine waiting.
func (s *Session) Incoming() <-chan frame.Frame {
	ch := s.chans()
	if ch == nil {
		return nil
	}
	return ch.incoming
}

// Outgoing returns a channel whose frames are sent in order as by Send;
// the first call starts one goroutine for this session that drains it
// until the session ends or the caller closes the channel. Flush, CloseWith
// and Start's end cover the frames sent on it before them, as they cover
// Send's. A frame the session refuses (it is closing, or the frame breaks
// RFC 6455: see Send) cannot fail to its sender: it is counted in Dropped.
// Once the session has ended nothing reads the channel any more, so a
// sender that may outlive the session should select on Done as well. The
// channel holds Options.OutgoingFrames frames. Ownership of each payload
// passes to the session as with Send.
func (s *Session) Outgoing() chan<- frame.Frame {
	s.mu.Lock()
	c := s.coldState()
	p := c.pump
	start := p == nil
	if start {
		p = &outPump{
			out:  make(chan frame.Frame, s.opts.outgoingFrames()),
			sync: make(chan chan struct{}),
			done: make(chan struct{}),
		}
		c.pump = p
	}
	s.mu.Unlock()
	if start {
		go s.pumpOutgoing(p)
	}
	return p.out
}

// outPump is the goroutine behind Outgoing.
type outPump struct {
	out chan frame.Frame
	// sync asks the pump to queue every frame the channel holds and then
	// close the given channel: frames taken from out are queued before
	// the pump looks at sync again, so Flush sees them all in the queue.
	sync chan chan struct{}
	done chan struct{} // closed when the pump has returned
}

func (s *Session) pumpOutgoing(p *outPump) {
	defer close(p.done)
	done := s.Done()
	ctx := doneContext{done}
	for {
		select {
		case f, ok := <-p.out:
			if !ok {
				return
			}
			s.pumpSend(ctx, f)
		case reply := <-p.sync:
			// Only what is there now: frames sent after the Flush began are
			// not its to wait for, and a busy sender cannot hold it forever.
			for n := len(p.out); n > 0; n-- {
				f, ok := <-p.out
				if !ok {
					close(reply)
					return
				}
				s.pumpSend(ctx, f)
			}
			close(reply)
		case <-done:
			// The session is gone: what the channel still holds can never
			// be written. Count it and let the goroutine go with the
			// session.
			for {
				select {
				case _, ok := <-p.out:
					if !ok {
						return
					}
					s.addDrops(1)
				default:
					return
				}
			}
		}
	}
}

// pumpSend queues a frame taken from Outgoing; one the session refuses is
// counted, as its sender cannot be told.
func (s *Session) pumpSend(ctx context.Context, f frame.Frame) {
	if err := s.send(ctx, f, true, false); err != nil {
		s.addDrops(1)
	}
}

// syncOutgoing returns once every frame sent on Outgoing before the call
// is in the session's queue (or refused), the pump has ended, or ctx ended.
func (s *Session) syncOutgoing(ctx context.Context) error {
	c := s.cold.Load()
	if c == nil {
		return nil
	}
	s.mu.Lock()
	p := c.pump
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	reply := make(chan struct{})
	select {
	case p.sync <- reply:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// stall keeps f aside while Incoming is full: reading pauses and one
// goroutine waits to put f on Incoming, then resumes reading.
func (s *Session) stall(f frame.Frame) {
	ch := s.chans()
	ch.stalled.Store(true)
	s.conn.PauseRead()
	go func() {
		select {
		case ch.incoming <- f:
		case <-ch.killed:
		}
		ch.inMu.Lock()
		ch.stalled.Store(false)
		closeNow := ch.inClose && !ch.inDone
		if closeNow {
			ch.inDone = true
		}
		ch.inMu.Unlock()
		if closeNow {
			close(ch.incoming)
			return
		}
		s.conn.ResumeRead()
	}()
}

// closeIncoming closes Incoming, or arranges for the stalled delivery to do
// it once its frame is in.
func (s *Session) closeIncoming() {
	ch := s.chans()
	ch.inMu.Lock()
	defer ch.inMu.Unlock()
	if ch.inDone {
		return
	}
	if ch.stalled.Load() {
		ch.inClose = true
		return
	}
	ch.inDone = true
	close(ch.incoming)
}

// Start runs handler(s) on the calling goroutine; when it returns, Start
// flushes (bounded by Options.CloseTimeout) and terminates the session.
// While it runs, a peer that half-closes still gets the handler's answers
// (see Session on half-close).
func (s *Session) Start(handler func(*Session)) {
	s.flags.Or(flagInStart)
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		if s.opts.closeTimeout() > 0 {
			ctx, cancel = context.WithTimeout(context.Background(), s.opts.closeTimeout())
		}
		s.Flush(ctx)
		cancel()
		s.Terminate()
		s.flags.And(^flagInStart)
	}()
	handler(s)
}
