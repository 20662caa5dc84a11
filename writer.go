package rawws

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"sync"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// outFrame is a frame waiting in the session's outgoing queue.
type outFrame struct {
	f      frame.Frame
	pooled *[]byte        // the payload's pooled buffer, returned once written
	prep   *PreparedFrame // shared encoded frame (prepared.go), released once written
	seq    uint64
}

// writeLoop writes the queue with one vectored write per batch until it is
// empty. The caller owns the writer role (s.writing set by it). When the
// connection's own queue grows past Options.OutgoingBytes (the peer reads
// slower than we write), further frames stay in the session's queue, where
// Send's bounds apply and SetMasking still reaches them, and one goroutine
// waits for the connection to drain; it exists only while the backlog does.
func (s *Session) writeLoop(drainer bool) {
	for {
		s.mu.Lock()
		if s.closed || len(s.q) == 0 {
			s.writing = false
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
			return
		}
		batch := s.q
		s.q, s.spare = s.spare[:0], nil
		if s.flags.Load()&flagQueued != 0 {
			s.flags.And(^flagQueued)
		}
		s.qbytes = 0
		c := s.conn
		s.wakeLocked()
		s.mu.Unlock()

		iov := s.encodeBatch(batch)
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
					if !s.finishBatch(c, batch, n, err, true) {
						s.writeLoop(true)
					}
				}()
				return
			}
		}
		if s.finishBatch(c, batch, n, err, drainer) {
			return
		}
	}
}

// finishBatch releases a written batch's buffers and records its progress.
// It reports true when a goroutine took the writer role over (the
// connection's backlog must drain first and this is not the drainer).
func (s *Session) finishBatch(c poller.Conn, batch []outFrame, n int, err error, drainer bool) bool {
	if err == nil {
		s.stats.framesOut.Add(uint64(len(batch)))
		s.stats.bytesOut.Add(uint64(n))
	}
	s.releaseBatch(batch)
	s.mu.Lock()
	s.wrSeq = batch[len(batch)-1].seq
	clear(batch)
	s.spare = batch[:0]
	s.wakeLocked()
	s.mu.Unlock()
	if err != nil {
		s.setErr(err)
		c.CloseWithError(err)
		return false // the closed flag (set by OnClose) or an empty queue ends the loop
	}
	if c.Buffered() >= s.opts.OutgoingBytes {
		if !drainer {
			go s.writeLoopAfterDrain(c)
			return true
		}
		c.Flush(doneContext{s.Done()})
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
	piece := max(s.opts.OutgoingBytes, minPiece)
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
				if err := c.Flush(doneContext{s.Done()}); err != nil {
					return total, err
				}
			}
		case errors.Is(err, poller.ErrOutputLimit) && c.Buffered() > 0:
			if err := c.Flush(doneContext{s.Done()}); err != nil {
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

// writeLoopAfterDrain waits until the connection has written its backlog,
// then goes on writing the session's queue.
func (s *Session) writeLoopAfterDrain(c poller.Conn) {
	c.Flush(doneContext{s.Done()})
	s.writeLoop(true)
}

// encodeBatch encodes batch into s.iov for one Writev. Server frames are
// written without copying their payloads; masked frames are masked into
// pooled buffers so the caller's bytes are never modified. The buffers stay
// in use until releaseBatch.
func (s *Session) encodeBatch(batch []outFrame) [][]byte {
	masking := s.masking.Load()
	need := len(batch) * frame.MaxHeaderSize
	if cap(s.hdrs) < need {
		s.hdrs = make([]byte, need)
	}
	hdrs := s.hdrs[:need]
	iov := s.iov[:0]
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
				bp := getBuf(len(p))
				m := (*bp)[:len(p)]
				copy(m, p)
				Mask(h.Key, 0, m)
				s.maskBufs = append(s.maskBufs, bp)
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
	s.iov = iov
	return iov
}

// releaseBatch returns the buffers of a batch that was written: Writev has
// put the bytes in the socket or copied them.
func (s *Session) releaseBatch(batch []outFrame) {
	clear(s.iov)
	s.iov = s.iov[:0]
	for i, bp := range s.maskBufs {
		putBuf(bp)
		s.maskBufs[i] = nil
	}
	s.maskBufs = s.maskBufs[:0]
	for i := range batch {
		if bp := batch[i].pooled; bp != nil {
			putBuf(bp)
		}
		if pf := batch[i].prep; pf != nil {
			pf.release()
		}
	}
}

// dropQueueLocked discards the queued frames (the session failed or ended).
// mu is held.
func (s *Session) dropQueueLocked() {
	if len(s.q) > 0 {
		s.stats.drops.Add(uint64(len(s.q)))
	}
	for i := range s.q {
		if bp := s.q[i].pooled; bp != nil {
			putBuf(bp)
		}
		if pf := s.q[i].prep; pf != nil {
			pf.release()
		}
	}
	clear(s.q)
	s.q = s.q[:0]
	if s.flags.Load()&flagQueued != 0 {
		s.flags.And(^flagQueued)
	}
	s.qbytes = 0
}

// wakeLocked wakes every goroutine waiting for queue room or write
// progress. mu is held.
func (s *Session) wakeLocked() {
	if c := s.cold; c != nil && c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// waitChanLocked returns a channel closed at the next wake. mu is held.
func (s *Session) waitChanLocked() <-chan struct{} {
	c := s.coldLocked()
	if c.wake == nil {
		c.wake = make(chan struct{})
	}
	return c.wake
}

// Buffer pool in power-of-two classes from 64 B to 1 MiB; larger buffers
// are allocated and left to the GC.
const (
	minPoolShift = 6
	maxPoolShift = 20
)

var bufPools [maxPoolShift - minPoolShift + 1]sync.Pool

// getBuf returns a buffer of capacity >= n (length 0 is not promised: use
// (*bp)[:n]).
func getBuf(n int) *[]byte {
	shift := minPoolShift
	if n > 1<<minPoolShift {
		shift = bits.Len(uint(n - 1))
	}
	if shift > maxPoolShift {
		b := make([]byte, n)
		return &b
	}
	if v := bufPools[shift-minPoolShift].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 1<<shift)
	return &b
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(bp *[]byte) {
	c := cap(*bp)
	if c < 1<<minPoolShift || c > 1<<maxPoolShift || c&(c-1) != 0 {
		return
	}
	*bp = (*bp)[:c]
	bufPools[bits.Len(uint(c))-1-minPoolShift].Put(bp)
}
