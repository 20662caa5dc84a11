package rawws

import (
	"context"
	"fmt"
	"io"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
)

// writerBuf is a message Writer's buffer: each fragment but the last
// carries this much.
const writerBuf = 32 << 10

// msgLock is held by an open message Writer. Other senders of data
// frames on goroutines wait for it, so frames of different messages never
// interleave; control frames pass (RFC 6455 §5.4 lets them come between
// fragments).
type msgLock struct{ ch chan struct{} }

// messageLock returns the session's msgLock, making it on first use.
func (s *Session) messageLock() *msgLock {
	c := s.coldState()
	if l := c.msgw.Load(); l != nil {
		return l
	}
	c.msgw.CompareAndSwap(nil, &msgLock{ch: make(chan struct{}, 1)})
	return c.msgw.Load()
}

// acquire takes l, waiting while another Writer holds it.
func (s *Session) acquire(ctx context.Context, l *msgLock) error {
	select {
	case l.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.Done():
		return s.closedErr("send", nil)
	}
}

// waitMessage is what a data frame sent by Send waits for: the end of the
// message a Writer is sending. It returns the release to call once the
// frame is queued (nil when nothing is held). Senders that must not block
// (event callbacks) pass as before: a frame of theirs that would interleave
// is refused by the fragmentation rules instead.
func (s *Session) waitMessage(ctx context.Context, block bool) (func(), error) {
	c := s.cold.Load()
	if c == nil || !block {
		return nil, nil
	}
	l := c.msgw.Load()
	if l == nil {
		return nil, nil
	}
	if err := s.acquire(ctx, l); err != nil {
		return nil, err
	}
	return func() { <-l.ch }, nil
}

// Writer returns a writer of one message of type op (frame.OpText or
// frame.OpBinary): it sends a fragment each time its 32 KiB buffer fills
// and the last frame, with whatever is left, on Close. Until Close, data
// frames other goroutines send (Send, SendText, another Writer) wait, so
// messages never interleave; control frames may come between the
// fragments. Each fragment is sent as by SendCopy and blocks like
// channel-mode Send while the queue is full, so a peer that reads slowly
// slows the writer down instead of making the session buffer. A message
// that fits in the buffer goes out as one frame (compressed when
// permessage-deflate applies); a fragmented one goes out uncompressed.
//
// ctx bounds the wait for the message lock and every Write and Close. A
// Write or Close that fails after a fragment went out leaves a message the
// peer can never see ended: the session is then failed with Close 1011.
// Text is not checked as UTF-8. Never call Writer from an event callback,
// nor send a data frame by another method on the goroutine that holds an
// open Writer (it would wait for itself until ctx ends).
func (s *Session) Writer(ctx context.Context, op frame.Opcode) (io.WriteCloser, error) {
	if op != frame.OpText && op != frame.OpBinary {
		return nil, fmt.Errorf("rawws: writer: %w: opcode %v is not a data message", ErrInvalidArgument, op)
	}
	l := s.messageLock()
	if err := s.acquire(ctx, l); err != nil {
		return nil, err
	}
	if s.flags.Load()&flagOutFrag != 0 {
		// A fragmented message sent by Send is open: its frames did not
		// wait for the lock between them.
		<-l.ch
		return nil, invalidFrame(op, "message writer while a fragmented message is open")
	}
	w := &msgWriter{s: s, ctx: ctx, op: op, l: l, bp: bufpool.Get(writerBuf)}
	w.buf = (*w.bp)[:0]
	return w, nil
}

// msgWriter is the io.WriteCloser of one outgoing message.
type msgWriter struct {
	s      *Session
	ctx    context.Context
	op     frame.Opcode
	l      *msgLock
	bp     *[]byte
	buf    []byte
	sent   bool // a fragment is out
	closed bool
	err    error
}

func (w *msgWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, fmt.Errorf("rawws: write: %w: message writer closed", ErrClosed)
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// flush sends the buffer as the message's next frame.
func (w *msgWriter) flush(fin bool) error {
	f := frame.Frame{Fin: fin, Opcode: w.op, Payload: w.buf}
	if err := w.s.sendFrame(w.ctx, f, true, true, true); err != nil {
		w.err = err
		if w.sent {
			w.s.fail(frame.CloseInternalError, "message cut short", err)
		}
		w.release()
		return err
	}
	w.sent = true
	w.buf = w.buf[:0]
	return nil
}

// Close sends the message's last frame and lets other messages go.
func (w *msgWriter) Close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	err := w.flush(true)
	w.closed = true
	w.release()
	return err
}

// release gives the buffer and the message lock back, once.
func (w *msgWriter) release() {
	if w.bp != nil {
		bufpool.Put(w.bp)
		w.bp, w.buf = nil, nil
		<-w.l.ch
	}
}
