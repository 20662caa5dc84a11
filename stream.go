package rawws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
)

// Blocking mode (Options.Blocking): the message layer of message mode with
// its messages handed to goroutines that call Read, Reader or NetConn
// instead of to a handler on the loop. The loop copies a message's bytes
// into one bounded buffer per session as they arrive; when it is full, or
// a finished message waits to be read, the connection is paused, so a
// reader that does not keep up pushes back on the peer through TCP rather
// than making the session buffer.

// streamBuf is what the loop may hold of a message nobody has read yet.
// It is the bound on a streamed message's memory, whatever its size.
const streamBuf = 64 << 10

// errNotBlocking: Read, Reader and NetConn belong to blocking mode.
var errNotBlocking = fmt.Errorf("rawws: read: %w: the session is not in blocking mode (Options.Blocking)", ErrInvalidArgument)

// errStaleReader: a message reader was read after the next Reader or Read
// moved on to another message.
var errStaleReader = errors.New("rawws: message reader used after the next Reader or Read")

// streamState is the hand-over between the loop and the reading
// goroutines, made with a blocking-mode session.
type streamState struct {
	s  *Session
	mu sync.Mutex
	// wake is closed at the next change a waiter may care about; made by
	// the first waiter.
	wake chan struct{}

	seq    uint64       // messages begun on the loop
	taken  uint64       // the message a Reader was handed
	active bool         // message seq has begun and its reader has not reached its end
	op     frame.Opcode // message seq's type
	fin    bool         // the loop delivered message seq's last byte
	// buf[off:] is what the loop received and nobody has read yet, in the
	// pooled buffer bp (nil while none is held).
	buf []byte
	off int
	bp  *[]byte
	// paused: the loop paused the connection (buf full, or a finished
	// message unread); the reader resumes it.
	paused bool
	err    error // the session stopped reading: what readers get once buf is read

	// msgw is held by an open message Writer; other senders of data
	// frames wait for it so that messages never interleave.
	msgw chan struct{}
}

// stream is the blocking mode's state, nil in the other modes.
func (s *Session) stream() *streamState {
	// On the loop's per-frame path: the shared options say it without
	// touching the cold state.
	if !s.opts.Blocking {
		return nil
	}
	if c := s.cold.Load(); c != nil {
		return c.st
	}
	return nil
}

// streamHandler is the MessageHandler of a blocking-mode session: the
// paths of message mode that deliver whole messages (inflated ones) and the
// end reach the stream through it. It has no state, so one value serves
// every session.
type streamHandler struct{}

func (streamHandler) OnOpen(*Session) {}

func (streamHandler) OnMessage(s *Session, op frame.Opcode, p []byte) {
	if st := s.stream(); st != nil {
		st.pushWhole(p)
	}
}

func (streamHandler) OnClose(s *Session, err error) { s.streamAbort() }

// streamAbort ends reading: readers get what is buffered, then an error
// carrying why the session ends (a *CloseError when the peer closed).
func (s *Session) streamAbort() {
	st := s.stream()
	if st == nil {
		return
	}
	err := s.closedErr("read", nil)
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.wakeLocked()
	st.mu.Unlock()
}

func (st *streamState) wakeLocked() {
	if st.wake != nil {
		close(st.wake)
		st.wake = nil
	}
}

// waitLocked waits for the next change; st.mu is held and held again on
// return.
func (st *streamState) waitLocked(ctx context.Context) error {
	if st.wake == nil {
		st.wake = make(chan struct{})
	}
	w := st.wake
	st.mu.Unlock()
	var err error
	select {
	case <-w:
	case <-ctx.Done():
		err = ctx.Err()
	}
	st.mu.Lock()
	return err
}

// unreadLocked is the number of bytes received and not read.
func (st *streamState) unreadLocked() int { return len(st.buf) - st.off }

// The loop's side.

// begin opens message op (loop; the previous one was read to its end,
// which holdFrame waits for).
func (st *streamState) begin(op frame.Opcode) {
	st.mu.Lock()
	st.seq++
	st.active, st.op, st.fin = true, op, false
	st.wakeLocked()
	st.mu.Unlock()
}

// holdFrame reports whether the loop must stop before the next frame
// header: a finished message waits for its reader, and what follows it
// (the next message, control frames) waits in the socket. It pauses the
// connection when so. The pause is taken under st.mu so that the
// reader's resume comes after it, never before.
func (st *streamState) holdFrame() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.active || !st.fin || st.err != nil {
		return false
	}
	st.pauseLocked()
	return true
}

// room is how many payload bytes the loop may hand over now; at 0 it has
// paused the connection.
func (st *streamState) room() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return streamBuf
	}
	n := streamBuf - st.unreadLocked()
	if n <= 0 {
		st.pauseLocked()
		return 0
	}
	return n
}

func (st *streamState) pauseLocked() {
	if !st.paused {
		st.paused = true
		st.s.conn.PauseRead()
	}
}

// held reports whether the stream keeps the connection paused; an OnData
// that comes anyway (another pauser resumed it) pauses again.
func (st *streamState) held() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.paused {
		st.s.conn.PauseRead()
	}
	return st.paused
}

// push hands over the next bytes of the open message (at most room's
// worth); end says they finish it.
func (st *streamState) push(p []byte, end bool) {
	st.mu.Lock()
	if len(p) > 0 {
		if st.bp == nil {
			st.bp = bufpool.Get(streamBuf)
			st.buf, st.off = (*st.bp)[:0], 0
		}
		if len(st.buf)+len(p) > cap(st.buf) {
			n := copy(st.buf[:cap(st.buf)], st.buf[st.off:])
			st.buf, st.off = st.buf[:n], 0
		}
		st.buf = append(st.buf, p...)
	}
	if end {
		st.fin = true
	}
	st.wakeLocked()
	st.mu.Unlock()
}

// pushWhole hands over a whole inflated message (loop): it is copied, as
// the inflater's buffer goes back once this returns, and the connection
// stays paused until it is read.
func (st *streamState) pushWhole(p []byte) {
	st.mu.Lock()
	st.releaseLocked()
	if len(p) > 0 {
		st.bp = bufpool.Get(len(p))
		st.buf = append((*st.bp)[:0], p...)
	}
	st.off, st.fin = 0, true
	st.wakeLocked()
	st.mu.Unlock()
}

func (st *streamState) releaseLocked() {
	if st.bp != nil {
		putPooled(st.bp, st.buf)
		st.bp, st.buf, st.off = nil, nil, 0
	}
}

// The readers' side.

// consumedLocked is called after a reader took bytes: a drained buffer is
// given back at the message's end, and a paused loop is resumed once there
// is room. It reports whether the caller must call ResumeRead (after
// unlocking: the engine may offer the held bytes at once).
func (st *streamState) consumedLocked() bool {
	unread := st.unreadLocked()
	if unread == 0 {
		if st.fin {
			st.releaseLocked()
		} else {
			st.buf, st.off = st.buf[:0], 0
		}
	}
	if st.fin && unread == 0 {
		st.active = false
	}
	// A half-empty buffer resumes the loop, so small reads do not pause
	// and resume it once each.
	if st.paused && !st.active || st.paused && !st.fin && unread <= streamBuf/2 {
		st.paused = false
		return true
	}
	return false
}

// next waits for the next message and hands it to the caller, discarding
// what a previous reader left unread of its own.
func (st *streamState) next(ctx context.Context) (frame.Opcode, uint64, error) {
	st.mu.Lock()
	for {
		if st.active && st.taken == st.seq {
			// The previous message's rest is skipped, as it arrives.
			st.off = len(st.buf)
			resume := st.consumedLocked()
			if resume {
				st.mu.Unlock()
				st.s.conn.ResumeRead()
				st.mu.Lock()
			}
			if st.active {
				if st.err != nil {
					err := st.err
					st.mu.Unlock()
					return 0, 0, err
				}
				if err := st.waitLocked(ctx); err != nil {
					st.mu.Unlock()
					return 0, 0, err
				}
			}
			continue
		}
		if st.active {
			st.taken = st.seq
			op, seq := st.op, st.seq
			st.mu.Unlock()
			return op, seq, nil
		}
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return 0, 0, err
		}
		if err := st.waitLocked(ctx); err != nil {
			st.mu.Unlock()
			return 0, 0, err
		}
	}
}

// read reads message seq into p.
func (st *streamState) read(ctx context.Context, seq uint64, p []byte) (int, error) {
	st.mu.Lock()
	for {
		if st.taken != seq {
			st.mu.Unlock()
			return 0, errStaleReader
		}
		if !st.active || st.seq != seq {
			// Read to its end already.
			st.mu.Unlock()
			return 0, io.EOF
		}
		if st.unreadLocked() > 0 || st.fin {
			n := copy(p, st.buf[st.off:])
			st.off += n
			resume := st.consumedLocked()
			done := !st.active
			st.mu.Unlock()
			if resume {
				st.s.conn.ResumeRead()
			}
			if done {
				return n, io.EOF
			}
			return n, nil
		}
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return 0, err
		}
		if len(p) == 0 {
			st.mu.Unlock()
			return 0, nil
		}
		if err := st.waitLocked(ctx); err != nil {
			st.mu.Unlock()
			return 0, err
		}
	}
}

// msgReader is the io.Reader of one incoming message.
type msgReader struct {
	st  *streamState
	ctx context.Context
	seq uint64
}

func (r *msgReader) Read(p []byte) (int, error) { return r.st.read(r.ctx, r.seq, p) }

// Reader waits for the next message and returns its type (frame.OpText or
// frame.OpBinary) and a reader of its payload, in blocking mode
// (Options.Blocking). The reader yields the message as its frames arrive:
// unmasked, checked as UTF-8 as it goes for text (invalid UTF-8 closes the
// session with 1007 and the reader returns an error instead of io.EOF),
// inflated when compressed. It ends with io.EOF at the message's end, or
// with the error that ended the session. ctx bounds Reader's wait and
// every Read of the returned reader.
//
// Memory stays bounded whatever the message's size: the session holds at
// most 64 KiB of it that the reader has not taken, and pauses reading the
// connection meanwhile, so the peer's sends wait in TCP (on netpoll, which
// cannot stop the kernel reading, a peer that outruns the reader by more
// than the engine's MaxInput is cut instead: poller.ErrInputLimit). A streamed
// message has no size limit (MaxMessageSize is Read's); a reader that
// wants one counts what it reads and closes the session (CloseWith, code
// 1009) past it. A compressed message is inflated whole before its reader
// yields it, so it is held to MaxMessageSize.
//
// Pings are answered and the peer's Close is answered as the frames are
// read: while no goroutine reads, nothing after the unread message is
// (a peer's ping included). Calling Reader again, or Read, skips the rest
// of the previous message; its reader then fails. One goroutine reads at
// a time, and never an event callback (a handler of package http run on
// the loop included): the loop would wait for itself.
//
// Once the session stops reading, Reader fails with an error matching
// ErrClosed and, when the peer closed, a *CloseError with the peer's code
// (errors.As); protocol errors were answered with their RFC 6455 codes.
func (s *Session) Reader(ctx context.Context) (frame.Opcode, io.Reader, error) {
	st := s.stream()
	if st == nil {
		return 0, nil, errNotBlocking
	}
	op, seq, err := st.next(ctx)
	if err != nil {
		return 0, nil, err
	}
	return op, &msgReader{st: st, ctx: ctx, seq: seq}, nil
}

// Read waits for the next message and returns its type and payload (the
// caller's own), in blocking mode: Reader read whole. A message over
// Options.MaxMessageSize fails the session with Close 1009 and
// ErrMessageTooBig. Errors, ctx and the cost of an idle session are
// Reader's.
func (s *Session) Read(ctx context.Context) (frame.Opcode, []byte, error) {
	op, r, err := s.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	max := s.opts.maxMessageSize()
	var b []byte
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if max > 0 && int64(len(b)) > max {
			s.fail(frame.CloseTooBig, "message too big", ErrMessageTooBig)
			return 0, nil, s.closedErr("read", nil)
		}
		if err == io.EOF {
			return op, b, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}
