package rawws

import (
	"context"
	"errors"
	"fmt"
	"io"
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
// A session runs in one of three modes, fixed when it is created:
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
//
// Raw means raw in the first two modes: fragments keep Fin=false, ping, pong
// and close are delivered as frames and nothing is answered automatically
// (see Ponger and Pinger for opt-in helpers).
//
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
	drops    atomic.Uint64 // frames refused or discarded (Dropped)
	maxFrame atomic.Int64  // SetMaxFrameSize's limit, once flagMaxFrame is set
	hubs     hubLinks      // Hubs to leave on close (hub.go)

	// Set before the session is attached, then read-only.
	ch  *chanState // channel mode only
	pmd *pmd       // permessage-deflate, when negotiated

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
	s := &Session{opts: shared}
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

// pendingReadEOF ends what OnReadEOF began while the session was pending:
// it kept the connection open then, so the session owns its end even when
// it turns out to owe nothing.
// It handles the FIN once, whichever path gets here first.
func (s *Session) pendingReadEOF() {
	s.mu.Lock()
	if s.flags.Load()&flagEOFPending == 0 || s.closed {
		s.mu.Unlock()
		return
	}
	s.flags.And(^flagEOFPending)
	owes := s.owesLocked()
	s.mu.Unlock()
	if owes {
		s.endAfterReadEOF()
		return
	}
	s.Terminate()
}

// awaitUnpend runs pendingReadEOF once the pending hand-off is complete
// (its OnOpen has returned), looking on the engine's wheel: the hand-off
// is short, and the session's end stops the wait.
func (s *Session) awaitUnpend(c poller.Conn) {
	var check func()
	check = func() {
		s.mu.Lock()
		fl := s.flags.Load()
		wait := !s.closed && fl&flagEOFPending != 0 && fl&flagPending != 0
		s.mu.Unlock()
		if wait {
			c.AfterFunc(consumerPoll, check)
			return
		}
		s.pendingReadEOF()
	}
	c.AfterFunc(consumerPoll, check)
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

// sessionConn is the face a Session shows its poller.Conn: the engine's
// callbacks live on it so that they are not part of the exported Session.
// (*sessionConn)(s) is a conversion, so handing it to the engine costs no
// allocation and no memory per session.
type sessionConn Session

// pollHandler is the handler the session's connection calls.
func (s *Session) pollHandler() *sessionConn { return (*sessionConn)(s) }

func (h *sessionConn) OnOpen(c poller.Conn)               { (*Session)(h).onOpen(c) }
func (h *sessionConn) OnData(c poller.Conn, b []byte) int { return (*Session)(h).onData(c, b) }
func (h *sessionConn) OnClose(c poller.Conn, err error)   { (*Session)(h).onClose(c, err) }
func (h *sessionConn) OnReadEOF(c poller.Conn) bool       { return (*Session)(h).onReadEOF(c) }

// onOpen runs when the session was given to the engine as the handler of a
// connection it opens (Adopt, Dial).
func (s *Session) onOpen(c poller.Conn) {
	s.setConn(c)
	s.openUser()
}

// onData parses frames out of b, unmasking
// payloads in place, and delivers them. It never blocks.
func (s *Session) onData(c poller.Conn, b []byte) int {
	if f := s.flags.Load(); f&(flagReadDead|flagPending) != 0 {
		if f&flagPending != 0 {
			return 0 // not attached yet: complete has them offered again
		}
		return len(b)
	}
	if ch := s.chans(); ch != nil && ch.stalled.Load() {
		return 0
	}
	return s.read(b)
}

// onClose: the connection is gone. It wakes every
// blocked Send and Flush, closes Incoming (after a stalled frame is
// delivered) and calls the handler's OnClose with Err.
func (s *Session) onClose(c poller.Conn, err error) {
	s.mu.Lock()
	if s.flags.Load()&flagPending != 0 {
		// The user's OnOpen has not run yet: complete ends the session
		// with this close once it has.
		s.coldState().heldErr = err
		s.flags.Or(flagHeldClose)
		s.mu.Unlock()
		return
	}
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.sendClosed = true
	if errors.Is(err, io.EOF) {
		err = nil
		// OnClose runs on the loop like OnData, so the reader state is
		// stable here. A peer whose TCP ends inside a frame or a fragmented
		// message sent something truncated: that is no orderly end.
		fl := s.flags.Load()
		if r := s.rd; fl&flagReadDead == 0 && (fl&flagInFrag != 0 || r != nil && (r.inFrame || r.msg.inMsg)) {
			err = fmt.Errorf("rawws: connection closed inside a frame or message: %w", io.ErrUnexpectedEOF)
		}
	}
	if n := s.queuedLocked(); err == nil && n > 0 {
		// The peer closed while frames still waited for the socket: they
		// are lost, which is no orderly end.
		err = fmt.Errorf("rawws: connection closed with %d frames unsent: %w", n, ErrClosed)
	}
	s.setErrLocked(err)
	s.dropQueueLocked()
	cold := s.cold.Load()
	var done chan struct{}
	if cold != nil {
		if cold.closeTimer != nil {
			cold.closeTimer.Stop()
			cold.closeTimer = nil
		}
		done = cold.doneCh
	}
	s.wakeLocked()
	cause := s.errLocked()
	s.mu.Unlock()
	s.releaseCompression()
	if done != nil {
		close(done)
	}
	if cold != nil {
		s.leaveHubs(cold)
		if p := cold.pongHook.Load(); p != nil {
			p.Stop()
		}
	}
	s.flags.Or(flagReadDead)
	if g := s.opts.Group; g != nil {
		// Before the handler's OnClose, so a drain that sees the group
		// empty has counted every session.
		g.leave(s, cause)
	}
	switch s.mode {
	case modeChannel:
		s.closeIncoming()
	case modeFrames:
		s.opts.Handler.OnClose(s, cause)
	case modeMessages:
		s.opts.MessageHandler.OnClose(s, cause)
	}
}

// onReadEOF is poller.HalfCloseHandler's OnReadEOF: the peer sent FIN after
// every byte before it was handed to OnData. A peer that half-closes may
// still read, so the session keeps the connection open for writing while
// it owes the peer something: a handshake not completed yet (OnOpen and
// the bytes held for it), frames queued or being written (echoes, the
// answer to a Close), in frame event mode a peer's Close not answered yet,
// or, in channel mode, a handler run by Start or frames on Incoming not
// taken yet, whose answers may follow. Incoming is closed (after a
// stalled frame) so the consumer learns there is no more; the session then
// ends when its queue is written and its write side shut: at Start's end,
// at Terminate, or, without Start, once the consumer has taken the last
// frame. It never takes longer than Options.CloseTimeout from now, so a
// stuck handler cannot hold the connection (it then ends with
// ErrCloseTimeout). In the event modes no callback follows, so a session
// owing frames is terminated at once: FIN goes out behind them.
func (s *Session) onReadEOF(c poller.Conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	fl := s.flags.Load()
	if fl&flagPending != 0 {
		// The user's OnOpen has not run, or is running: what is owed is
		// known only after it. attach handles the FIN once OnOpen
		// returned; if the FIN comes after attach looked, the wait below
		// does, once the hand-off is complete.
		s.flags.Or(flagReadEOF | flagEOFPending)
		attached := s.conn != nil
		s.mu.Unlock()
		if attached {
			s.awaitUnpend(c)
		}
		return true
	}
	if r := s.rd; fl&flagReadDead == 0 && (fl&flagInFrag != 0 || r != nil && (r.inFrame || r.msg.inMsg)) {
		s.setErrLocked(fmt.Errorf("rawws: peer's FIN inside a frame or message: %w", io.ErrUnexpectedEOF))
	}
	owes := s.owesLocked()
	if owes {
		s.flags.Or(flagReadEOF)
	}
	s.mu.Unlock()
	if owes {
		s.endAfterReadEOF()
	}
	return owes
}

// owesLocked reports whether the session may still write to a peer that
// sent FIN. mu is held.
func (s *Session) owesLocked() bool {
	if s.finDone {
		return false // our FIN is out: nothing can follow it
	}
	if s.queuedLocked() > 0 || s.writing {
		return true
	}
	if s.sendClosed {
		return false
	}
	switch s.mode {
	case modeChannel:
		// Start's handler may still answer, and so may whoever has not
		// taken every frame from Incoming yet.
		return s.flags.Load()&flagInStart != 0 || s.consumerBehind()
	case modeFrames:
		return s.closeUnanswered()
	}
	return false
}

// closeUnanswered reports whether a raw session got the peer's Close and
// has not sent one of its own.
func (s *Session) closeUnanswered() bool {
	return s.flags.Load()&(flagPeerClose|flagCloseSent) == flagPeerClose
}

// consumerBehind reports whether frames wait for the channel-mode
// consumer (on Incoming or stalled before it).
func (s *Session) consumerBehind() bool {
	ch := s.chans()
	return len(ch.incoming) > 0 || ch.stalled.Load()
}

// consumerPoll is how often a half-closed channel session not run by
// Start looks whether its consumer has taken the last frame.
const consumerPoll = 10 * time.Millisecond

// watchConsumer ends a half-closed channel session that Start does not run
// once its consumer has taken every frame: nothing tells the session when
// such a consumer is done answering, so the last frame taken is the end
// (the close timer still bounds it). Start, if it begins meanwhile, owns
// the end instead.
func (s *Session) watchConsumer(c poller.Conn) {
	var check func()
	check = func() {
		s.mu.Lock()
		over := s.closed || s.finDone || s.flags.Load()&flagInStart != 0
		s.mu.Unlock()
		if over {
			return
		}
		if !s.consumerBehind() {
			s.Terminate()
			return
		}
		c.AfterFunc(consumerPoll, check)
	}
	c.AfterFunc(consumerPoll, check)
}

// endAfterReadEOF bounds and ends a session kept open after the peer's
// FIN: the close timer caps how long it may take, channel mode's consumer
// learns of the end through Incoming, and the event modes, with no
// callback to come, terminate now.
func (s *Session) endAfterReadEOF() {
	s.mu.Lock()
	s.armCloseTimerLocked()
	c := s.conn
	s.mu.Unlock()
	switch {
	case s.mode == modeChannel:
		s.closeIncoming()
		if s.flags.Load()&flagInStart == 0 && c != nil {
			s.watchConsumer(c)
		}
	case s.mode == modeFrames && s.closeUnanswered():
		// The handler's Close answer (from another goroutine: no callback
		// follows) shuts the write side once written; Terminate now would
		// refuse it.
	default:
		s.Terminate()
	}
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

// deliver hands a complete frame to the application. In channel mode it
// takes ownership of payload (copying it when view is true, i.e. when it
// points into the loop's buffer). It reports false when the frame could not
// be delivered now and reading must stop (channel mode, Incoming full).
func (s *Session) deliver(f frame.Frame, view bool) bool {
	switch f.Opcode {
	case frame.OpPing:
		if s.flags.Load()&flagAutoPong != 0 {
			s.enqueueControl(frame.OpPong, f.Payload)
		}
	case frame.OpPong:
		if c := s.cold.Load(); c != nil {
			if p := c.pongHook.Load(); p != nil {
				p.onPong(f.Payload)
			}
		}
	case frame.OpClose:
		s.flags.Or(flagPeerClose)
	}
	switch s.mode {
	case modeFrames:
		s.opts.Handler.OnFrame(s, f)
		if f.Opcode == frame.OpClose && s.flags.Load()&flagDrained != 0 {
			// A raw session answers nothing by itself: the peer's answer
			// to the drain's Close ends the connection.
			s.Terminate()
		}
		return true
	case modeChannel:
		if view {
			p := make([]byte, len(f.Payload))
			copy(p, f.Payload)
			f.Payload = p
		}
		select {
		case s.chans().incoming <- f:
			return true
		default:
		}
		s.stall(f)
		return false
	}
	return true
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

// Close ends the session. A nil cause is Terminate. Otherwise the session
// fails with cause: queued frames are dropped, the connection is closed at
// once, Err reports cause, and a frame waiting for room on Incoming is
// dropped.
func (s *Session) Close(cause error) {
	if cause == nil {
		s.Terminate()
		return
	}
	s.mu.Lock()
	s.setErrLocked(cause)
	s.sendClosed = true
	s.dropQueueLocked()
	s.wakeLocked()
	c := s.conn
	s.mu.Unlock()
	if ch := s.chans(); ch != nil {
		ch.inMu.Lock()
		select {
		case <-ch.killed:
		default:
			close(ch.killed)
		}
		ch.inMu.Unlock()
	}
	if c != nil {
		c.CloseWithError(cause)
	}
}

// Terminate stops accepting frames, writes what is queued, then closes the
// write side of the connection (TCP FIN). Reading goes on until the peer
// closes, or for Options.CloseTimeout, after which the connection is closed.
// It does not block, so it cannot wait for Outgoing's goroutine: frames
// still on that channel are dropped and counted in Dropped, as the seed's
// terminate drops them. Flush first to keep them (Start does).
func (s *Session) Terminate() {
	s.mu.Lock()
	s.sendClosed = true
	if s.wantFIN || s.closed {
		s.mu.Unlock()
		return
	}
	s.wantFIN = true
	start := !s.writing && s.conn != nil
	if start {
		s.writing = true
	}
	s.armCloseTimerLocked()
	s.mu.Unlock()
	if start {
		s.writeLoop(false)
	}
}

// armCloseTimerLocked bounds how long the connection may linger once the
// session is closing. mu is held.
func (s *Session) armCloseTimerLocked() {
	if c := s.cold.Load(); (c != nil && c.closeTimer != nil) || s.closed || s.opts.closeTimeout() < 0 || s.conn == nil {
		return
	}
	c := s.conn
	s.coldState().closeTimer = c.AfterFunc(s.opts.closeTimeout(), func() {
		c.CloseWithError(ErrCloseTimeout)
	})
}

// CloseWith sends a Close frame carrying r, then flushes. Frames sent after
// it are refused with ErrClosed and never reach the wire. In message mode
// the session then waits for the peer's Close (up to Options.CloseTimeout)
// and closes the connection. r.Code 0 sends a Close frame without payload.
// A reason that cannot be sent fails as with SendClose; a session that no
// longer sends fails with ErrClosed and its cause.
// It blocks like Send and Flush.
func (s *Session) CloseWith(ctx context.Context, r frame.CloseReason) error {
	var buf [frame.MaxControlPayload]byte
	p, err := frame.AppendCloseReason(buf[:0], r)
	if err != nil {
		return fmt.Errorf("rawws: close: %w: %w", ErrInvalidFrame, err)
	}
	// Frames sent on Outgoing before go out before the Close, not after it
	// (where they would be refused).
	if err := s.syncOutgoing(ctx); err != nil {
		return err
	}
	if err := s.send(ctx, frame.Frame{Fin: true, Opcode: frame.OpClose, Payload: p}, true, true); err != nil {
		return err
	}
	return s.Flush(ctx)
}

// SendClose queues a Close frame carrying r without blocking, for event
// callbacks (CloseWith blocks). It skips the outgoing frame cap like other
// control frames. In message mode the session then waits for the peer's
// Close (up to Options.CloseTimeout) and closes the connection. It fails
// with ErrClosed (and the session's cause) when the session no longer
// sends, and with an error matching ErrInvalidFrame and
// frame.ErrInvalidCloseReason for a reason that cannot be sent.
func (s *Session) SendClose(r frame.CloseReason) error {
	var buf [frame.MaxControlPayload]byte
	p, err := frame.AppendCloseReason(buf[:0], r)
	if err != nil {
		return fmt.Errorf("rawws: close: %w: %w", ErrInvalidFrame, err)
	}
	if !s.enqueueControl(frame.OpClose, p) {
		return s.closedErr("close", nil)
	}
	return nil
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
