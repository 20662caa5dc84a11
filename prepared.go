package rawws

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
)

// ErrPreparedReleased: a PreparedFrame was used after its owner released
// it (its buffer may already serve another message).
var ErrPreparedReleased = errors.New("rawws: prepared frame used after Release")

// PreparedFrame is one frame encoded once, header and payload, in the form a
// server writes it (unmasked), in an immutable buffer that the outgoing
// queues of many sessions share: queueing it on a session copies nothing.
// It is the building block of Broadcast and Hub.
//
// Lifetime: the buffer is reference counted. NewPreparedFrame returns the
// frame holding one reference, the creator's; every session that queues it
// takes another and drops it as soon as the Writev carrying it returns
// (poller.Conn.Writev has written or copied the bytes by then), or when the
// frame is discarded from a closing session's queue. The creator calls
// Release once it will queue it no more; when the last reference goes the
// buffer returns to a pool. A creator that never calls Release leaks
// nothing: the buffer is then simply left to the garbage collector.
//
// Masking: a session with masking on (client sessions) cannot use the
// shared bytes, since every masked frame needs its own key. Its writer
// masks the payload into a pooled buffer per frame, the same slower path as
// any masked Send; nothing else changes for the caller.
//
// Compression (permessage-deflate, message mode): a final text or binary
// prepared frame is compressed once per compression level, on first use by
// a session that compresses without context takeover (server sessions with
// Compression.ServerNoContextTakeover, or a small negotiated window), and
// that compressed form is shared by every such session like the plain one
// (should that session's compressor be busy with its own Send at that
// instant, this one delivery goes out plain rather than wait). Sessions
// with context takeover get the plain frame (RSV1 clear), which
// RFC 7692 allows and which leaves their compressor's window untouched:
// compressing for them would cost one compression per session.
//
// All methods are safe for concurrent use, except that Release must be the
// creator's last use; a second Release is refused with ErrPreparedReleased.
type PreparedFrame struct {
	refs atomic.Int32
	// released: the creator's Release came (never set on the package's
	// own pooled frames, which drop their reference with release).
	released atomic.Bool
	f        frame.Frame // header bits; Payload is a view into wire
	wire     []byte      // header + payload as written by an unmasked session
	buf      *[]byte     // pooled backing of wire; nil once given back
	// variants: compressed forms, held (one reference each) until p is
	// freed (prepared_deflate.go).
	variants pfVariants
	// recycle: the struct itself came from preparedPool (Hub.Publish,
	// BroadcastFrame), never escaped to a caller, and goes back with its
	// buffer.
	recycle bool
}

// preparedPool recycles the PreparedFrame structs the package creates and
// releases itself, so publishing allocates nothing in steady state.
var preparedPool = sync.Pool{New: func() any { return new(PreparedFrame) }}

// NewPreparedFrame encodes f once for sending to many sessions; f.Payload
// is copied, so the caller keeps it. The frame is written as given (raw,
// like Send): fragments keep Fin=false, RSV bits are kept, and a control
// frame is not checked against the 125-byte limit. The result holds one
// reference, the caller's; see PreparedFrame for Release.
func NewPreparedFrame(f frame.Frame) *PreparedFrame {
	p := new(PreparedFrame)
	p.init(f)
	return p
}

// PrepareMessage is NewPreparedFrame for one final frame of type op
// carrying payload (copied).
func PrepareMessage(op frame.Opcode, payload []byte) *PreparedFrame {
	return NewPreparedFrame(frame.Frame{Fin: true, Opcode: op, Payload: payload})
}

// getPrepared is NewPreparedFrame from the struct pool, for frames that
// never leave the package.
func getPrepared(f frame.Frame) *PreparedFrame {
	p := preparedPool.Get().(*PreparedFrame)
	p.recycle = true
	p.init(f)
	return p
}

// init encodes f into a pooled buffer and sets the creator's reference.
func (p *PreparedFrame) init(f frame.Frame) {
	h := frame.HeaderOf(&f)
	hn := frame.HeaderSize(h)
	bp := bufpool.Get(hn + len(f.Payload))
	w := (*bp)[:hn+len(f.Payload)]
	frame.PutHeader(w, h)
	copy(w[hn:], f.Payload)
	p.buf, p.wire = bp, w
	p.f = f
	p.f.Payload = w[hn:]
	p.released.Store(false)
	p.refs.Store(1)
}

// Frame returns the frame; its Payload is a view of the shared buffer that
// must not be modified, valid until the caller's Release.
func (p *PreparedFrame) Frame() frame.Frame { return p.f }

// Len is the size of the encoded frame (header and payload) an unmasked
// session writes.
func (p *PreparedFrame) Len() int { return len(p.wire) }

// Release drops the creator's reference: the buffer goes back to its pool
// once every session that queued the frame has written or discarded it.
// After Release the caller must not queue p again. A second Release,
// which a program can meet at run time (two paths each believing they own
// the frame), does nothing and returns ErrPreparedReleased: the frame stays
// intact for the sessions still holding it.
func (p *PreparedFrame) Release() error {
	if !p.released.CompareAndSwap(false, true) {
		return ErrPreparedReleased
	}
	p.release()
	return nil
}

// retain adds n references for n queue entries. The caller holds a
// reference itself, so the count cannot be reaching zero meanwhile.
func (p *PreparedFrame) retain(n int32) { p.refs.Add(n) }

// release drops one reference and frees the buffer with the last.
func (p *PreparedFrame) release() {
	n := p.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		// Only the package drops the references it took, once each (a
		// creator's second Release is refused above): this is a bug here.
		panic("rawws: PreparedFrame released more often than referenced")
	}
	bp := p.buf
	p.buf, p.wire, p.f = nil, nil, frame.Frame{}
	bufpool.Put(bp)
	p.releaseVariants()
	if p.recycle {
		p.recycle = false
		preparedPool.Put(p)
	}
}

// live reports whether the creator has not released p yet (a best-effort
// check for callers outside the package; inside it the caller's reference
// guarantees it).
func (p *PreparedFrame) live() bool { return !p.released.Load() && p.refs.Load() > 0 }

// SendPrepared queues the prepared frame pf on s without copying it. pf
// stays the caller's: SendPrepared takes its own reference, dropped once
// the frame is written or discarded, so the caller may Release pf as soon
// as it has queued it everywhere.
//
// It obeys the session's queue like Send: in channel mode it blocks while
// the outgoing queue is at its frame or byte cap (Options.OutgoingFrames,
// Options.OutgoingBytes) until there is room, ctx ends (ctx.Err, nothing
// queued) or the session closes. In event and message mode it never
// blocks: at the cap it applies Options.QueueFull (QueueFullError refuses
// the frame and counts a drop for the session; QueueFullClose refuses it
// and closes the session with 1008) and returns ErrQueueFull. It fails with
// ErrClosed once the session is closing, and with ErrPreparedReleased when
// pf was already released.
//
// When the session's writer is idle, the frame is written before
// SendPrepared returns, on the caller's goroutine, as with Send.
func (s *Session) SendPrepared(ctx context.Context, pf *PreparedFrame) error {
	if !pf.live() {
		return ErrPreparedReleased
	}
	policy := slowFromSession
	if s.blocks() {
		policy = slowWait
	}
	claimed, st := s.queuePrepared(ctx, pf, policy, nil)
	switch st {
	case queuedOK:
		if claimed {
			s.writeLoop(false)
		}
		return nil
	case queuedClosed:
		return s.closedErr("send prepared "+pf.f.Opcode.String(), nil)
	case queuedInterleaved:
		s.addDrops(1)
		return invalidFrame(pf.f.Opcode, "prepared data frame while a fragmented message sent by Send is open")
	case queuedCanceled:
		return ctx.Err()
	case queuedCloseSlow:
		s.fail(frame.ClosePolicyViolation, "outgoing queue full", ErrQueueFull)
	}
	return ErrQueueFull
}

// slowPolicy is how queuePrepared treats a full queue.
type slowPolicy uint8

const (
	slowFromSession slowPolicy = iota // Options.QueueFull
	slowWait                          // block until room (channel-mode SendPrepared)
	slowDrop                          // refuse, count a drop
	slowClose                         // refuse, count a drop, close with 1008
)

// queueStatus is queuePrepared's outcome.
type queueStatus uint8

const (
	queuedOK        queueStatus = iota
	queuedClosed                // the session no longer sends
	queuedCanceled              // ctx ended while waiting
	queuedDropped               // full queue, frame refused
	queuedCloseSlow             // full queue, frame refused, caller must fail the session with 1008
	// queuedInterleaved: a data frame while a fragmented message sent by
	// Send is open; on the wire it would land inside that message.
	queuedInterleaved
)

// queuePrepared puts pf (or its compressed form for s) in s's queue under
// the given policy. It never writes nor closes anything itself, so a caller may hold its own locks
// (the Hub's topic lock) around it: claimed says the caller took the writer
// role and must run s.writeLoop(false) once it can, and queuedCloseSlow
// says it must fail the session. Only slowWait blocks. A session without a
// queue takes one from free when it holds any (a broadcast's own).
func (s *Session) queuePrepared(ctx context.Context, pf *PreparedFrame, policy slowPolicy, free *[]*writeState) (claimed bool, st queueStatus) {
	if s.deflate() != nil {
		pf = pf.forSession(s)
	}
	n := len(pf.f.Payload)
	s.mu.Lock()
	for {
		if s.sendClosed {
			s.mu.Unlock()
			return false, queuedClosed
		}
		if pf.f.Opcode.IsData() && s.flags.Load()&flagOutFrag != 0 {
			s.mu.Unlock()
			return false, queuedInterleaved
		}
		if !s.fullLocked(n) {
			break
		}
		if policy == slowWait {
			w := s.waitChanLocked()
			s.mu.Unlock()
			select {
			case <-w:
			case <-ctx.Done():
				return false, queuedCanceled
			}
			s.mu.Lock()
			continue
		}
		s.mu.Unlock()
		s.addDrops(1)
		if policy == slowClose || policy == slowFromSession && s.opts.QueueFull == QueueFullClose {
			return false, queuedCloseSlow
		}
		return false, queuedDropped
	}
	pf.retain(1)
	if s.w == nil && free != nil && len(*free) > 0 {
		n := len(*free) - 1
		s.w = (*free)[n]
		(*free)[n] = nil
		*free = (*free)[:n]
	}
	s.pushLocked(pf.f, nil, pf)
	claimed = !s.writing && s.conn != nil
	if claimed {
		s.writing = true
	}
	s.mu.Unlock()
	return claimed, queuedOK
}
