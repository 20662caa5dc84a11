package rawws

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
	"github.com/rawws/rawws/poller"
)

// outFrame is a frame waiting in the session's outgoing queue.
type outFrame struct {
	f      frame.Frame
	pooled *[]byte        // the payload's pooled buffer, returned once written
	prep   *PreparedFrame // shared encoded frame (prepared.go), released once written
	seq    uint64
}

// writeState is the outgoing queue and the writer's scratch. It exists only
// while frames wait or are being written: the first frame queued takes
// one from a pool and the writer gives it back once the queue is empty,
// so an idle session carries none of it.
type writeState struct {
	// Guarded by Session.mu.
	q      []outFrame
	spare  []outFrame
	qbytes int
	enqSeq uint64 // frames ever accepted into this queue
	wrSeq  uint64 // frames of this queue handed to the connection
	// lostFrom is the first frame of this queue that was dropped or whose
	// write failed (0: none), so a Flush covering it fails.
	lostFrom uint64
	// waited: a Flush compares against this state; it is then left to
	// the GC rather than pooled, so it cannot come back as another
	// session's queue (or this one's) while that Flush still looks at it.
	waited bool

	// The writer's scratch, owned by whoever holds the writer role.
	iov      [][]byte
	hdrs     []byte
	maskBufs []*[]byte
}

var writeStatePool statePool[writeState]

// writeKeep bounds the queue capacity a pooled writeState keeps.
const writeKeep = 64

// wLocked returns the session's queue, taking one from the pool. mu is
// held.
func (s *Session) wLocked() *writeState {
	if s.w == nil {
		s.w = writeStatePool.get()
	}
	return s.w
}

// queuedLocked is the number of frames waiting in the queue. mu is held.
func (s *Session) queuedLocked() int {
	if s.w == nil {
		return 0
	}
	return len(s.w.q)
}

// putWriteState returns an emptied writeState to the pool.
func putWriteState(w *writeState) {
	w.reset()
	writeStatePool.put(w)
}

// reset readies an emptied writeState for another queue, dropping
// scratch grown large.
func (w *writeState) reset() {
	if cap(w.q) > writeKeep || cap(w.spare) > writeKeep {
		w.q, w.spare = nil, nil
	}
	if cap(w.iov) > 2*writeKeep {
		w.iov = nil
	}
	if cap(w.hdrs) > writeKeep*frame.MaxHeaderSize {
		w.hdrs = nil
	}
	w.qbytes, w.enqSeq, w.wrSeq, w.lostFrom = 0, 0, 0, 0
}

// writeLoop writes the queue with one vectored write per batch until it is
// empty. The caller owns the writer role (s.writing set by it). When the
// connection's own queue grows past Options.OutgoingBytes (the peer reads
// slower than we write), further frames stay in the session's queue, where
// Send's bounds apply and SetMasking still reaches them, and one goroutine
// waits for the connection to drain; it exists only while the backlog does.
func (s *Session) writeLoop(drainer bool) {
	if w := s.writeLoopFree(drainer); w != nil {
		putWriteState(w)
	}
}

// writeLoopFree is writeLoop handing the queue state it gave back (if it
// did) to the caller rather than to the pool: a broadcast keeps them for
// its next sessions (fanout).
func (s *Session) writeLoopFree(drainer bool) *writeState {
	for {
		s.mu.Lock()
		w := s.w
		if s.closed || w == nil || len(w.q) == 0 {
			s.writing = false
			if w != nil && len(w.q) == 0 {
				// Everything queued was written (or dropped): the queue
				// goes back until the next frame, unless a Flush holds it.
				s.w = nil
				if w.waited {
					w = nil
				}
			} else {
				w = nil
			}
			c := s.conn
			fin := s.wantFIN && !s.finDone && !s.closed && c != nil
			if fin {
				s.finDone = true
			}
			resume := s.wpaused && !s.closed && c != nil
			s.wpaused = false
			s.wakeLocked()
			s.mu.Unlock()
			if fin {
				c.CloseWrite()
			}
			if resume {
				c.ResumeRead() // reading paused for this backlog (see backlogged)
			}
			return w
		}
		batch := w.q
		w.q, w.spare = w.spare[:0], nil
		if s.flags.Load()&flagQueued != 0 {
			s.flags.And(^flagQueued)
		}
		w.qbytes = 0
		c := s.conn
		s.wakeLocked()
		s.mu.Unlock()

		// w stays the session's while this goroutine holds the writer
		// role: only the role's owner gives it back.
		iov := s.encodeBatch(w, batch)
		var n int
		var err error
		if drainer {
			n, err = s.writeInPieces(c, iov)
		} else {
			n, err = c.Writev(iov)
			if errors.Is(err, poller.ErrOutputLimit) {
				// The batch (one big frame, typically) does not fit in the
				// connection's queue at once, and nothing of it was queued.
				// It cannot wait here (this may be the loop): a goroutine
				// writes it in pieces as the socket drains.
				go func() {
					n, err := s.writeInPieces(c, iov)
					if !s.finishBatch(c, w, batch, n, err, true) {
						s.writeLoop(true)
					}
				}()
				return nil
			}
		}
		if s.finishBatch(c, w, batch, n, err, drainer) {
			return nil
		}
	}
}

// finishBatch releases a written batch's buffers and records its progress.
// It reports true when a goroutine took the writer role over (the
// connection's backlog must drain first and this is not the drainer).
func (s *Session) finishBatch(c poller.Conn, w *writeState, batch []outFrame, n int, err error, drainer bool) bool {
	if err == nil {
		s.countOut(len(batch), n)
	}
	w.releaseBatch(batch)
	s.mu.Lock()
	w.wrSeq = batch[len(batch)-1].seq
	if err != nil && w.lostFrom == 0 {
		w.lostFrom = batch[0].seq
	}
	clear(batch)
	w.spare = batch[:0]
	s.wakeLocked()
	s.mu.Unlock()
	if err != nil {
		s.setErr(err)
		c.CloseWithError(err)
		return false // the closed flag (set by OnClose) or an empty queue ends the loop
	}
	if c.Buffered() >= s.opts.outgoingBytes() {
		if !drainer {
			go s.writeLoopAfterDrain(c)
			return true
		}
		s.waitDrain(c)
	}
	return false
}

// minPiece is the smallest piece writeInPieces cuts a batch into when the
// connection refuses larger ones (its Config.MaxOutput is not known here).
const minPiece = 4 << 10

// writeInPieces writes iov (one batch, in order) in pieces of at most
// Options.OutgoingBytes, waiting for the connection to drain between them,
// so a frame larger than the engine's output cap still goes out whole. A
// piece the connection refuses with ErrOutputLimit queued nothing; it is
// retried after the backlog drained, or halved when nothing is queued.
// Only the writer-role owner calls it, off the loop: nobody else writes to
// the connection between pieces. It returns the bytes written.
func (s *Session) writeInPieces(c poller.Conn, iov [][]byte) (int, error) {
	piece := max(s.opts.outgoingBytes(), minPiece)
	total := 0
	var seg [][]byte
	for i, off := 0, 0; i < len(iov); {
		seg = seg[:0]
		size, j, o := 0, i, off
		for j < len(iov) && size < piece {
			b := iov[j][o:]
			if size+len(b) > piece {
				b = b[:piece-size]
				o += len(b)
			} else {
				j, o = j+1, 0
			}
			seg = append(seg, b)
			size += len(b)
		}
		_, err := c.Writev(seg)
		switch {
		case err == nil:
			i, off = j, o
			total += size
			if i < len(iov) && c.Buffered() >= piece {
				if err := s.waitDrain(c); err != nil {
					return total, err
				}
			}
		case errors.Is(err, poller.ErrOutputLimit) && c.Buffered() > 0:
			if err := s.waitDrain(c); err != nil {
				return total, err
			}
		case errors.Is(err, poller.ErrOutputLimit) && piece > minPiece:
			piece /= 2
		default:
			return total, err
		}
	}
	return total, nil
}

// waitDrain waits, off the loop, until the connection has written what is
// queued or the session ended. A peer that reads nothing for WriteTimeout
// would otherwise hold the session and its buffers forever: then the
// session fails with ErrWriteTimeout. Only the writer-role owner calls it,
// so nothing else fills the queue meanwhile (pongs aside).
func (s *Session) waitDrain(c poller.Conn) error {
	err := poller.FlushStalled(doneContext{s.Done()}, c, s.opts.writeTimeout())
	if errors.Is(err, poller.ErrStalled) {
		s.Close(ErrWriteTimeout)
		return ErrWriteTimeout
	}
	return err
}

// writeLoopAfterDrain waits until the connection has written its backlog,
// then goes on writing the session's queue.
func (s *Session) writeLoopAfterDrain(c poller.Conn) {
	s.waitDrain(c)
	s.writeLoop(true)
}

// encodeBatch encodes batch into w.iov for one Writev. Server frames are
// written without copying their payloads; masked frames are masked into
// pooled buffers so the caller's bytes are never modified. The buffers stay
// in use until releaseBatch.
func (s *Session) encodeBatch(w *writeState, batch []outFrame) [][]byte {
	masking := s.Masking()
	need := len(batch) * frame.MaxHeaderSize
	if cap(w.hdrs) < need {
		w.hdrs = make([]byte, need)
	}
	hdrs := w.hdrs[:need]
	iov := w.iov[:0]
	for i := range batch {
		it := &batch[i]
		if it.prep != nil && !masking {
			iov = append(iov, it.prep.wire) // encoded once for every session
			continue
		}
		h := frame.HeaderOf(&it.f)
		p := it.f.Payload
		if masking {
			h.Masked = true
			binary.LittleEndian.PutUint32(h.Key[:], rand.Uint32())
			if len(p) > 0 {
				bp := bufpool.Get(len(p))
				m := (*bp)[:len(p)]
				copy(m, p)
				Mask(h.Key, 0, m)
				w.maskBufs = append(w.maskBufs, bp)
				p = m
			}
		}
		dst := hdrs[i*frame.MaxHeaderSize:]
		n := frame.PutHeader(dst, h)
		iov = append(iov, dst[:n])
		if len(p) > 0 {
			iov = append(iov, p)
		}
	}
	w.iov = iov
	return iov
}

// releaseBatch returns the buffers of a batch that was written: Writev has
// put the bytes in the socket or copied them.
func (w *writeState) releaseBatch(batch []outFrame) {
	clear(w.iov)
	w.iov = w.iov[:0]
	for i, bp := range w.maskBufs {
		bufpool.Put(bp)
		w.maskBufs[i] = nil
	}
	w.maskBufs = w.maskBufs[:0]
	for i := range batch {
		if bp := batch[i].pooled; bp != nil {
			bufpool.Put(bp)
		}
		if pf := batch[i].prep; pf != nil {
			pf.release()
		}
	}
}

// dropQueueLocked discards the queued frames (the session failed or ended).
// mu is held.
func (s *Session) dropQueueLocked() {
	w := s.w
	if w == nil {
		return
	}
	if len(w.q) > 0 {
		s.addDrops(len(w.q))
		if w.lostFrom == 0 {
			w.lostFrom = w.q[0].seq
		}
	}
	for i := range w.q {
		if bp := w.q[i].pooled; bp != nil {
			bufpool.Put(bp)
		}
		if pf := w.q[i].prep; pf != nil {
			pf.release()
		}
	}
	clear(w.q)
	w.q = w.q[:0]
	if s.flags.Load()&flagQueued != 0 {
		s.flags.And(^flagQueued)
	}
	w.qbytes = 0
}

// wakeLocked wakes every goroutine waiting for queue room or write
// progress. mu is held.
func (s *Session) wakeLocked() {
	if c := s.cold.Load(); c != nil && c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// waitChanLocked returns a channel closed at the next wake. mu is held.
func (s *Session) waitChanLocked() <-chan struct{} {
	c := s.coldState()
	if c.wake == nil {
		c.wake = make(chan struct{})
	}
	return c.wake
}
