package rawws

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// mode is how a session hands frames to the application.
type mode uint8

const (
	modeChannel  mode = iota // Incoming channel, raw frames
	modeFrames               // Handler.OnFrame on the loop, raw frames
	modeMessages             // MessageHandler.OnMessage on the loop, RFC 6455 rules enforced
)

// Session is one WebSocket connection: the seed's RawWebSocket. It is a
// poller.Handler attached to a poller.Conn; the connection's event loop
// parses frames and hands them over, and writes go through one bounded
// outgoing queue.
//
// A session runs in one of four modes, fixed when it is created:
//
//   - channel mode (no handler in Options): raw frames on Incoming, the
//     seed's API. Goroutines exist only for this session and only while
//     needed (Outgoing's pump, a stalled delivery, a backlogged writer).
//   - frame event mode (Options.Handler): raw frames handed to
//     Handler.OnFrame on the loop.
//   - message mode (Options.MessageHandler, NewSession): whole messages
//     handed to MessageHandler.OnMessage on the loop; pings answered, the
//     close handshake completed, protocol errors answered with their close
//     codes.
//   - blocking mode (Options.Blocking): message mode's rules with the
//     messages read on the caller's goroutine: Read, Reader (streamed),
//     Writer, NetConn (stream.go, msgwriter.go, netconn.go).
//
// Raw means raw in the first two modes: fragments keep Fin=false, ping, pong
// and close are delivered as frames and nothing is answered automatically
// (see Ponger and Pinger for opt-in helpers).
//
// On half-close: a peer that sends FIN may still read, so the session keeps
// the connection open for writing while it owes the peer something: a
// handshake not completed yet, frames queued or being written (echoes, the
// answer to a Close), in frame event mode a peer's Close not answered yet,
// or, in channel mode, a handler run by Start or frames on Incoming not
// taken yet, whose answers may follow. Incoming is then closed (after a
// stalled frame) so the consumer learns there is no more, and the session
// ends when its queue is written and its write side shut: at Start's end,
// at Terminate, or, without Start, once the consumer has taken the last
// frame. It never takes longer than Options.CloseTimeout from the FIN (it
// then ends with ErrCloseTimeout). In the event modes no callback follows
// the FIN, so a session owing frames is terminated at once: our FIN goes
// out behind them.
//
// The methods are grouped by concern: lifecycle and state (session.go),
// reading (reader.go, message.go), sending (send.go, writer.go), closing
// (close.go), channel mode (channel.go), the engine's callbacks (conn.go).
// All methods are safe for concurrent use.
type Session struct {
	// opts is read-only and may be shared by every session of an
	// endpoint (defaults applied): a copy per session would cost an idle
	// connection a hundred bytes. The event handlers are read from it.
	opts *Options
	conn poller.Conn
	mu   sync.Mutex

	// flags packs the loop's lock-free state (flag* bits) in one word:
	// an idle connection pays for every byte here.
	flags atomic.Uint32
	// regIdx is the session's slot in its Group's registry plus one (0:
	// not in one); guarded by that group's mu.
	regIdx int32
	mode   mode

	// Writer role and lifecycle, guarded by mu.
	writing    bool // someone owns the writer role
	wpaused    bool // reading paused until the writer drains its queue (backlogged)
	sendClosed bool // no more frames are accepted
	wantFIN    bool // shut the write side once the queue is written
	finDone    bool // CloseWrite was called
	closed     bool // OnClose ran

	// State that exists only while something is in flight, nil when idle:
	// rd while a header, a frame or a fragmented message is unfinished at
	// the end of a read callback (loop only; reader.go), w while frames
	// are queued or being written (guarded by mu; writer.go).
	rd *readState
	w  *writeState

	// cold is the state few sessions need, made on first use and kept
	// (the channel mode's and permessage-deflate's among it).
	cold atomic.Pointer[sessionCold]
	// sink is where the traffic counters go: a shard of its Group's
	// counters once the session joined one (stats.go), else nil.
	sink atomic.Pointer[statShard]
}

// Session.flags bits, each read without the lock.
const (
	// flagReadDead: input after a fatal error or a close is discarded.
	flagReadDead uint32 = 1 << iota
	// flagQueued: frames wait behind a busy writer (set and cleared under
	// mu); the reader pauses at its next frame boundary (backlogged).
	flagQueued
	// flagMasking: frames are masked when written (SetMasking).
	flagMasking
	// flagAutoPong: pings are answered (Ponger, message mode).
	flagAutoPong
	// flagDrained: the group's drain sent its Close 1001 (group.go).
	flagDrained
	// flagMaxFrame: SetMaxFrameSize replaced the options' limit with
	// sessionCold.maxFrame.
	flagMaxFrame
	// flagPending: the HTTP server handed the connection to the session
	// before it is attached (Accept, UpgradeHTTP): its bytes wait and a
	// close is held until complete. The session is its own hand-off, so
	// an upgrade allocates no go-between.
	flagPending
	// flagHeldClose: the connection closed while the session was pending
	// (sessionCold.heldErr says why).
	flagHeldClose
	// flagOutFrag: a fragmented message sent by Send is open (its last
	// frame not sent yet); flagOutBinary says it is binary. Changed under
	// mu, only when a message opens or ends.
	flagOutFrag
	flagOutBinary
	// flagCloseSent: a Close frame of ours was queued, so a peer's Close
	// that follows is its answer (an orderly close we started).
	flagCloseSent
	// flagInFrag: raw modes, a data frame with Fin=false arrived and its
	// message has not ended, so EOF now cuts it short. Loop only.
	flagInFrag
	// flagReadEOF: the peer's FIN arrived and OnReadEOF kept the
	// connection open for what the session still owes (set under mu).
	flagReadEOF
	// flagInStart: Start is running the session's handler, which may still
	// answer after the peer's FIN.
	flagInStart
	// flagPeerClose: raw modes, the peer's Close frame was delivered, so
	// the application owes it an answer unless a Close of ours went out.
	flagPeerClose
	// flagEOFPending: the FIN came while the session was pending, and
	// pendingReadEOF has not handled it yet (set and cleared under mu).
	flagEOFPending
)

// sessionCold is the state few sessions ever use, made on first use
// (coldState) so an idle session does not carry it. Once made it stays, so
// it is read without the lock; its fields say what guards them.
type sessionCold struct {
	// Guarded by Session.mu.
	pump       *outPump      // Outgoing's channel and its goroutine, once asked for
	wake       chan struct{} // closed at the writer's next progress
	closeTimer poller.Timer  // bounds a closing session's linger
	// doneCh is closed once the connection is gone; made by the first
	// Done before the end (see Done).
	doneCh chan struct{}
	err    error // why the session ended (first cause wins)

	pongHook atomic.Pointer[pinger]
	drops    atomic.Uint64           // frames refused or discarded (Dropped)
	maxFrame atomic.Int64            // SetMaxFrameSize's limit, once flagMaxFrame is set
	hubs     hubLinks                // Hubs to leave on close (hub.go)
	msgw     atomic.Pointer[msgLock] // held by an open message Writer (msgwriter.go)

	// Set before the session is attached, then read-only.
	ch  *chanState   // channel mode only
	st  *streamState // blocking mode only
	pmd *pmd         // permessage-deflate, when negotiated

	heldErr error // the close that came while pending (flagHeldClose); guarded by Session.mu
}

// chans is the channel-mode state; nil in the event modes.
func (s *Session) chans() *chanState {
	if s.mode != modeChannel {
		return nil
	}
	return s.cold.Load().ch
}

// deflate is the negotiated permessage-deflate state, nil without.
func (s *Session) deflate() *pmd {
	if c := s.cold.Load(); c != nil {
		return c.pmd
	}
	return nil
}

// coldState returns the session's cold state, making it. Any goroutine may
// call it, with or without mu.
func (s *Session) coldState() *sessionCold {
	if c := s.cold.Load(); c != nil {
		return c
	}
	c := &sessionCold{}
	if s.cold.CompareAndSwap(nil, c) {
		return c
	}
	return s.cold.Load()
}

// setErrLocked records why the session ends unless a cause is known. mu
// is held.
func (s *Session) setErrLocked(err error) {
	if err == nil {
		return
	}
	if c := s.coldState(); c.err == nil {
		c.err = err
	}
}

// errLocked is the recorded cause. mu is held.
func (s *Session) errLocked() error {
	if c := s.cold.Load(); c != nil {
		return c.err
	}
	return nil
}

// addDrops counts n frames that never reached the wire.
func (s *Session) addDrops(n int) {
	s.coldState().drops.Add(uint64(n))
	if sh := s.sink.Load(); sh != nil {
		sh.drops.Add(uint64(n))
	}
}

// NewRawSession attaches a session to conn (calling conn.SetHandler) and
// returns it. Without Options.Handler or Options.MessageHandler it runs in
// channel mode (frames on Incoming); with one of them, in event mode, and
// the handler's OnOpen runs before NewRawSession returns, on the calling
// goroutine. conn must be freshly handed over (e.g. by the HTTP server after
// the 101 answer); bytes already buffered on it are parsed as frames. The
// session joins opts.Group, if any, before OnOpen.
//
// A nil conn, or options with both Handler and MessageHandler, are
// programmer errors, not run-time conditions (every engine hands out a
// connection or an error): NewRawSession panics on them, before anything
// is started.
func NewRawSession(conn poller.Conn, opts Options) *Session {
	if conn == nil {
		panic("rawws: NewRawSession: nil poller.Conn")
	}
	if err := opts.check(); err != nil {
		panic(err)
	}
	s := newSession(opts)
	s.attach(conn)
	conn.SetHandler(s.pollHandler())
	return s
}

// NewSession is NewRawSession in message mode with h as the MessageHandler
// (opts.Handler must be nil).
func NewSession(conn poller.Conn, opts Options, h MessageHandler) *Session {
	opts.MessageHandler = h
	return NewRawSession(conn, opts)
}

// newSession builds a session that is not attached to a connection yet,
// with options of its own.
func newSession(opts Options) *Session {
	return newSessionShared(&opts)
}

// newSessionShared is newSession for options that the caller never changes
// again, so sessions can share them (defaults are applied where fields are
// read).
func newSessionShared(shared *Options) *Session {
	if shared.Blocking {
		// Blocking mode is message mode with the session's own handler,
		// so every path of the message layer serves it unchanged. The copy
		// of the options is the price of that; a blocking session costs a
		// goroutine's stack anyway.
		o := *shared
		o.MessageHandler = streamHandler{}
		shared = &o
	}
	s := &Session{opts: shared}
	if shared.Blocking {
		s.coldState().st = &streamState{s: s}
	}
	var fl uint32
	switch {
	case shared.MessageHandler != nil:
		s.mode = modeMessages
		fl |= flagAutoPong
	case shared.Handler != nil:
		s.mode = modeFrames
	default:
		s.mode = modeChannel
		s.coldState().ch = &chanState{incoming: make(chan frame.Frame, shared.incomingFrames()), killed: make(chan struct{})}
	}
	if shared.Masking || shared.Client {
		fl |= flagMasking
	}
	s.flags.Store(fl)
	return s
}

// attach binds the session to its connection and runs the user's OnOpen
// (on the loop when the engine calls OnOpen; on the caller's goroutine for
// NewRawSession, which takes over an already-running connection).
func (s *Session) attach(c poller.Conn) {
	if s.setConn(c) {
		s.openUser()
		if s.flags.Load()&flagReadEOF != 0 {
			s.pendingReadEOF()
		}
	}
}

// setConn binds the session to c once; sends made before wait in the queue
// and are written here. It reports whether this call bound it.
func (s *Session) setConn(c poller.Conn) bool {
	s.mu.Lock()
	if s.conn != nil {
		s.mu.Unlock()
		return false
	}
	s.conn = c
	start := s.queuedLocked() > 0 && !s.writing
	if start {
		s.writing = true
	}
	s.mu.Unlock()
	if start {
		s.writeLoop(false)
	}
	return true
}

// openUser puts the session in its group, then runs the event handler's
// OnOpen.
func (s *Session) openUser() {
	s.joinGroup()
	switch s.mode {
	case modeFrames:
		s.opts.Handler.OnOpen(s)
	case modeMessages:
		s.opts.MessageHandler.OnOpen(s)
	}
}

// Conn returns the connection the session runs on. Sessions returned by
// NewRawSession, NewSession, Dial and UpgradeHTTP are always attached.
func (s *Session) Conn() poller.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Done is closed when the session's connection is gone.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cold.Load()
	if c != nil && c.doneCh != nil {
		return c.doneCh
	}
	if s.closed {
		// Nobody asked before the end: OnClose had nothing to close.
		return closedDone
	}
	c = s.coldState()
	c.doneCh = make(chan struct{})
	return c.doneCh
}

// closedDone is the Done channel of sessions that ended before anyone
// asked for one.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Err reports why the session ended: nil while it runs and after an orderly
// end (the peer's EOF between messages, Terminate, or a close handshake we
// started with CloseWith, SendClose or a Close frame and the peer
// answered); a *CloseError when the peer started the close handshake
// (message mode); ErrFrameTooBig, ErrMessageTooBig, ErrQueueFull,
// ErrPingTimeout, ErrCloseTimeout or a *frame.ProtocolError; the cause
// given to Close; an error wrapping io.ErrUnexpectedEOF when the peer's TCP
// ended inside a frame or a fragmented message (raw modes included); or
// the connection's error. Errors from Send, Flush and the other methods
// of a session that ended match its Err as well as ErrClosed.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errLocked()
}

// setErr records why the session ends unless a cause is already known.
func (s *Session) setErr(err error) {
	s.mu.Lock()
	s.setErrLocked(err)
	s.mu.Unlock()
}

// Masking reports whether frames are masked when written.
func (s *Session) Masking() bool { return s.flags.Load()&flagMasking != 0 }

// SetMasking sets whether frames are masked when written, each with a
// fresh random key. The flag is read when a frame is written, so frames
// still queued take the new value.
func (s *Session) SetMasking(on bool) {
	if on {
		s.flags.Or(flagMasking)
	} else {
		s.flags.And(^flagMasking)
	}
}

// MaxFrameSize is the largest payload a peer's frame may announce (0: no
// limit).
func (s *Session) MaxFrameSize() int64 {
	if s.flags.Load()&flagMaxFrame != 0 {
		return s.cold.Load().maxFrame.Load()
	}
	// Most sessions never change the limit: it is derived from the shared
	// options rather than stored per session.
	max := s.opts.MaxFrameSize
	if max == 0 && s.opts.Blocking {
		// A streamed frame costs no buffer: no cap unless one is asked for.
		return 0
	}
	if max == 0 && s.mode == modeMessages && s.opts.maxMessageSize() > 0 {
		max = s.opts.maxMessageSize()
	}
	switch {
	case max == 0:
		return DefaultMaxFrameSize
	case max < 0:
		return 0
	}
	return max
}

// SetMaxFrameSize changes the limit from the next frame header on. A header
// announcing more is answered with Close 1009 "frame too big" before any of
// its payload is read, and the session ends with ErrFrameTooBig. n <= 0
// removes the limit.
func (s *Session) SetMaxFrameSize(n int64) {
	if n < 0 {
		n = 0
	}
	// The value is in place before the flag says to read it.
	s.coldState().maxFrame.Store(n)
	s.flags.Or(flagMaxFrame)
}

// doneContext is a context.Context that ends when done is closed; it lets
// session-internal waits end with the session without allocating a
// cancelable context per session.
type doneContext struct{ done <-chan struct{} }

func (doneContext) Deadline() (deadline time.Time, ok bool) { return }
func (c doneContext) Done() <-chan struct{}                 { return c.done }
func (c doneContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}
func (doneContext) Value(any) any { return nil }
