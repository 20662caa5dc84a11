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
// Session.flags bits, each read on the loop without the lock.
const (
	// flagReadDead: input after a fatal error or a close is discarded.
	flagReadDead uint32 = 1 << iota
	// flagQueued: frames wait behind a busy writer (set and cleared under
	// mu); the reader pauses at its next frame boundary (backlogged).
	flagQueued
)

type Session struct {
	// opts is read-only and may be shared by every session of an
	// endpoint (defaults applied): a copy per session would cost an idle
	// connection a hundred bytes. The event handlers are read from it.
	opts *Options
	mode mode

	// Small fields together, so padding does not grow the struct.
	inFrame  bool
	maskPos  uint8 // reader: the key position, 0-3 (Mask's pos)
	masking  atomic.Bool
	autoPong atomic.Bool
	flags    atomic.Uint32 // flagReadDead | flagQueued: one word, as the 512-byte budget asks

	maxFrameSize atomic.Int64
	pongHook     atomic.Pointer[pinger]
	stats        sessionStats // counters for Server.Metrics (metrics.go)
	hubs         hubLinks     // Hubs to leave on close (hub.go)

	// doneCh is closed once the connection is gone. It is made on the
	// first Done (most idle sessions never need one; guarded by mu) and
	// is closedDone when nobody asked before the end. Read it through
	// Done.
	doneCh chan struct{}

	// Reader state: touched only from the loop's callbacks.
	conn   poller.Conn
	parser frame.Parser
	hdr    frame.Header
	got    int64
	fbuf   []byte // payload of a frame that arrived in pieces
	msg    msgState
	pmd    *pmd // permessage-deflate, when negotiated (set before attach)

	ch *chanState // channel mode only; nil in the event modes

	// Writer state, guarded by mu.
	mu          sync.Mutex
	q           []outFrame
	spare       []outFrame
	qbytes      int
	writing     bool   // someone owns the writer role
	wpaused     bool   // reading paused until the writer drains its queue (backlogged)
	sendClosed  bool   // no more frames are accepted
	closeQueued bool   // a Close frame is queued or written
	wantFIN     bool   // shut the write side once the queue is written
	finDone     bool   // CloseWrite was called
	closed      bool   // OnClose ran
	enqSeq      uint64 // frames ever accepted
	wrSeq       uint64 // frames ever handed to the connection
	err         error  // why the session ended (first cause wins)
	cold        *sessionCold
	iov         [][]byte // writer's scratch, owned by whoever is writing
	hdrs        []byte
	maskBufs    []*[]byte
}

// sessionCold is the writer-side state few sessions ever use, made on
// first use (coldLocked) so an idle session does not carry it. Guarded by
// Session.mu.
type sessionCold struct {
	outgoing   chan frame.Frame // Outgoing's channel, once asked for
	wake       chan struct{}    // closed at the writer's next progress
	closeTimer poller.Timer     // bounds a closing session's linger
}

// coldLocked returns the session's cold state, making it. mu is held.
func (s *Session) coldLocked() *sessionCold {
	if s.cold == nil {
		s.cold = &sessionCold{}
	}
	return s.cold
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
// the 101 answer); bytes already buffered on it are parsed as frames.
func NewRawSession(conn poller.Conn, opts Options) *Session {
	s := newSession(opts)
	s.attach(conn)
	conn.SetHandler(s)
	return s
}

// NewSession is NewRawSession in message mode with h as the MessageHandler.
func NewSession(conn poller.Conn, opts Options, h MessageHandler) *Session {
	opts.MessageHandler = h
	return NewRawSession(conn, opts)
}

// newSession builds a session that is not attached to a connection yet.
func newSession(opts Options) *Session {
	o := opts.withDefaults()
	return newSessionShared(&o)
}

// newSessionShared is newSession for options that already have their
// defaults (withDefaults) and that the caller never changes again, so
// sessions can share them.
func newSessionShared(shared *Options) *Session {
	opts := *shared
	s := &Session{opts: shared}
	switch {
	case opts.MessageHandler != nil:
		s.mode = modeMessages
		s.autoPong.Store(true)
		if opts.Client {
			s.parser.Masking = frame.MaskForbidden
		} else {
			s.parser.Masking = frame.MaskRequired
		}
		if opts.MaxFrameSize == 0 && opts.MaxMessageSize > 0 {
			opts.MaxFrameSize = opts.MaxMessageSize
		}
	case opts.Handler != nil:
		s.mode = modeFrames
		s.parser.AllowedRsv = opts.AllowedRsv
	default:
		s.mode = modeChannel
		s.ch = &chanState{incoming: make(chan frame.Frame, opts.IncomingFrames), killed: make(chan struct{})}
		s.parser.AllowedRsv = opts.AllowedRsv
	}
	s.masking.Store(opts.Masking)
	switch {
	case opts.MaxFrameSize == 0:
		s.maxFrameSize.Store(DefaultMaxFrameSize)
	case opts.MaxFrameSize > 0:
		s.maxFrameSize.Store(opts.MaxFrameSize)
	}
	return s
}

// attach binds the session to its connection and runs the user's OnOpen
// (on the loop when the engine calls OnOpen; on the caller's goroutine for
// NewRawSession, which takes over an already-running connection).
func (s *Session) attach(c poller.Conn) {
	if s.setConn(c) {
		s.openUser()
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
	start := len(s.q) > 0 && !s.writing
	if start {
		s.writing = true
	}
	s.mu.Unlock()
	if start {
		s.writeLoop(false)
	}
	return true
}

// openUser runs the event handler's OnOpen.
func (s *Session) openUser() {
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

// OnOpen implements poller.Handler; the engine calls it when the session
// was given to Adopt or Dial.
func (s *Session) OnOpen(c poller.Conn) {
	s.setConn(c)
	s.openUser()
}

// OnData implements poller.Handler: it parses frames out of b, unmasking
// payloads in place, and delivers them. It never blocks.
func (s *Session) OnData(c poller.Conn, b []byte) int {
	if s.flags.Load()&flagReadDead != 0 {
		return len(b)
	}
	if s.ch != nil && s.ch.stalled.Load() {
		return 0
	}
	n := s.read(b)
	s.stats.bytesIn.Add(uint64(n))
	return n
}

// OnClose implements poller.Handler: the connection is gone. It wakes every
// blocked Send and Flush, closes Incoming (after a stalled frame is
// delivered) and calls the handler's OnClose with Err.
func (s *Session) OnClose(c poller.Conn, err error) {
	s.mu.Lock()
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
		if s.flags.Load()&flagReadDead == 0 && (s.inFrame || s.msg.inMsg) {
			err = fmt.Errorf("rawws: connection closed inside a frame or message: %w", io.ErrUnexpectedEOF)
		}
	}
	if err == nil && len(s.q) > 0 {
		// The peer closed while frames still waited for the socket: they
		// are lost, which is no orderly end.
		err = fmt.Errorf("rawws: connection closed with %d frames unsent: %w", len(s.q), ErrClosed)
	}
	if s.err == nil {
		s.err = err
	}
	s.dropQueueLocked()
	if cold := s.cold; cold != nil && cold.closeTimer != nil {
		cold.closeTimer.Stop()
		cold.closeTimer = nil
	}
	s.wakeLocked()
	cause := s.err
	done := s.doneCh
	if done == nil {
		s.doneCh = closedDone
	}
	s.mu.Unlock()
	s.releaseCompression()
	if done != nil {
		close(done)
	}
	s.leaveHubs()
	if p := s.pongHook.Load(); p != nil {
		p.Stop()
	}
	s.flags.Or(flagReadDead)
	switch s.mode {
	case modeChannel:
		s.closeIncoming()
	case modeFrames:
		s.opts.Handler.OnClose(s, cause)
	case modeMessages:
		s.opts.MessageHandler.OnClose(s, cause)
	}
}

// Done is closed when the session's connection is gone.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	if s.doneCh == nil {
		s.doneCh = make(chan struct{})
	}
	ch := s.doneCh
	s.mu.Unlock()
	return ch
}

// closedDone is the Done channel of sessions that ended before anyone
// asked for one.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Err reports why the session ended: nil while it runs and after an orderly
// end, a *CloseError when the peer sent a Close frame that ended it (message
// mode), ErrFrameTooBig, ErrMessageTooBig, ErrPingTimeout, a
// *frame.ProtocolError, the cause given to Close, an error wrapping
// io.ErrUnexpectedEOF when the peer's TCP ended inside a frame or a
// fragmented message, or the connection's error.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// setErr records why the session ends unless a cause is already known.
func (s *Session) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Masking reports whether frames are masked when written.
func (s *Session) Masking() bool { return s.masking.Load() }

// SetMasking sets whether frames are masked when written, each with a
// fresh random key. The flag is read when a frame is written, so frames
// still queued take the new value.
func (s *Session) SetMasking(on bool) { s.masking.Store(on) }

// MaxFrameSize is the largest payload a peer's frame may announce (0: no
// limit).
func (s *Session) MaxFrameSize() int64 { return s.maxFrameSize.Load() }

// SetMaxFrameSize changes the limit from the next frame header on. A header
// announcing more is answered with Close 1009 "frame too big" before any of
// its payload is read, and the session ends with ErrFrameTooBig. n <= 0
// removes the limit.
func (s *Session) SetMaxFrameSize(n int64) {
	if n < 0 {
		n = 0
	}
	s.maxFrameSize.Store(n)
}

// Incoming returns the channel of frames received, in channel mode (nil in
// event modes). Each frame owns its payload. The channel holds
// Options.IncomingFrames frames; while it is full the session stops reading
// the connection, so TCP pushes back on the peer (on backends that cannot
// stop reading, the engine's input cap ends the connection instead). It is
// closed when the connection is gone; drain it or Close the session, or a
// stalled frame keeps one goroutine waiting.
func (s *Session) Incoming() <-chan frame.Frame {
	if s.ch == nil {
		return nil
	}
	return s.ch.incoming
}

// Outgoing returns a channel whose frames are sent in order as by Send; the
// first call starts one goroutine for this session that drains it until the
// caller closes the channel. Once the session has ended, frames sent to it
// are dropped (never blocking the sender); close it to let the goroutine
// go. The channel holds Options.OutgoingFrames frames.
// Ownership of each payload passes to the session as with Send.
func (s *Session) Outgoing() chan<- frame.Frame {
	s.mu.Lock()
	c := s.coldLocked()
	out := c.outgoing
	start := out == nil
	if start {
		out = make(chan frame.Frame, s.opts.OutgoingFrames)
		c.outgoing = out
	}
	s.mu.Unlock()
	if start {
		go s.pumpOutgoing(out)
	}
	return out
}

func (s *Session) pumpOutgoing(outgoing chan frame.Frame) {
	done := s.Done()
	ctx := doneContext{done}
	for {
		select {
		case f, ok := <-outgoing:
			if !ok {
				return
			}
			// An error means the session is closing: the frame is dropped,
			// as the seed drops frames sent after close.
			s.send(ctx, f, true, false)
		case <-done:
			// Keep dropping until the caller closes the channel, so a
			// sender never blocks forever on a dead session.
			for range outgoing {
			}
			return
		}
	}
}

// deliver hands a complete frame to the application. In channel mode it
// takes ownership of payload (copying it when view is true, i.e. when it
// points into the loop's buffer). It reports false when the frame could not
// be delivered now and reading must stop (channel mode, Incoming full).
func (s *Session) deliver(f frame.Frame, view bool) bool {
	switch f.Opcode {
	case frame.OpPing:
		if s.autoPong.Load() {
			s.enqueueControl(frame.OpPong, f.Payload)
		}
	case frame.OpPong:
		if p := s.pongHook.Load(); p != nil {
			p.onPong(f.Payload)
		}
	}
	switch s.mode {
	case modeFrames:
		s.opts.Handler.OnFrame(s, f)
		return true
	case modeChannel:
		if view {
			p := make([]byte, len(f.Payload))
			copy(p, f.Payload)
			f.Payload = p
		}
		select {
		case s.ch.incoming <- f:
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
	ch := s.ch
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
	ch := s.ch
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
	if s.err == nil {
		s.err = cause
	}
	s.sendClosed = true
	s.dropQueueLocked()
	s.wakeLocked()
	c := s.conn
	s.mu.Unlock()
	if ch := s.ch; ch != nil {
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
// It does not block.
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
	if (s.cold != nil && s.cold.closeTimer != nil) || s.closed || s.opts.CloseTimeout < 0 || s.conn == nil {
		return
	}
	c := s.conn
	s.coldLocked().closeTimer = c.AfterFunc(s.opts.CloseTimeout, func() {
		c.CloseWithError(ErrCloseTimeout)
	})
}

// CloseWith sends a Close frame carrying r, then flushes. Frames sent after
// it are refused with ErrClosed and never reach the wire. In message mode
// the session then waits for the peer's Close (up to Options.CloseTimeout)
// and closes the connection. r.Code 0 sends a Close frame without payload.
// It blocks like Send and Flush.
func (s *Session) CloseWith(ctx context.Context, r frame.CloseReason) error {
	var buf [frame.MaxControlPayload]byte
	p, err := frame.AppendCloseReason(buf[:0], r)
	if err != nil {
		return fmt.Errorf("rawws: close: %w", err)
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
// with ErrClosed when the session no longer sends, and wraps
// frame.ErrInvalidCloseReason for a reason that cannot be sent.
func (s *Session) SendClose(r frame.CloseReason) error {
	var buf [frame.MaxControlPayload]byte
	p, err := frame.AppendCloseReason(buf[:0], r)
	if err != nil {
		return fmt.Errorf("rawws: close: %w", err)
	}
	if !s.enqueueControl(frame.OpClose, p) {
		return fmt.Errorf("rawws: close: %w", ErrClosed)
	}
	return nil
}

// Start runs handler(s) on the calling goroutine; when it returns, Start
// flushes (bounded by Options.CloseTimeout) and terminates the session.
func (s *Session) Start(handler func(*Session)) {
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		if s.opts.CloseTimeout > 0 {
			ctx, cancel = context.WithTimeout(context.Background(), s.opts.CloseTimeout)
		}
		s.Flush(ctx)
		cancel()
		s.Terminate()
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
