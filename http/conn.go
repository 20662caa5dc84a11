package http

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws/internal/wheel"
	"github.com/rawws/rawws/poller"
)

// maxQueued bounds the responses a connection holds (running, or done and
// waiting behind a slower one): past it the server stops reading that
// connection until the queue drains.
const maxQueued = 256

// lingerTimeout is how long a connection we half-closed (after an error
// response or Connection: close) may stay open for the peer to read the
// response and close its side.
const lingerTimeout = 2 * time.Second

// read states of a connection (loop-only).
const (
	rsHead    uint8 = iota // parsing a request head
	rsBody                 // copying a Content-Length body
	rsChunked              // decoding a chunked body
	rsStopped              // no more requests on this connection: discard input
)

var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

// exchange is one request and its response, from the parsed head until the
// response's last byte was handed to the connection.
type exchange struct {
	c      *hconn
	req    Request
	w      ResponseWriter
	head   []byte // the head's own copy when the handler cannot use the read buffer
	body   []byte // the body's own buffer
	out    []byte // the final response bytes
	inline bool

	// guarded by c.mu
	pending    [][]byte
	pendingN   int    // streamed bytes in pending, which a waiting handler counts
	gone       func() // called once if the peer goes away while the handler runs
	done       bool
	closeAfter bool
	hijack     poller.Handler
}

var exPool = sync.Pool{New: func() any { return new(exchange) }}

func (h *hconn) newExchange() *exchange {
	ex := exPool.Get().(*exchange)
	ex.c = h
	ex.req.reset()
	ex.w.reset()
	ex.w.ex = ex
	ex.inline = false
	ex.done, ex.closeAfter, ex.hijack = false, false, nil
	ex.pendingN, ex.gone = 0, nil
	return ex
}

func recycle(ex *exchange) {
	ex.req.reset()
	ex.w.reset()
	ex.c = nil
	clear(ex.pending)
	ex.pending = ex.pending[:0]
	ex.pendingN, ex.gone = 0, nil
	// Keep buffers of common sizes; drop the rare huge ones.
	if cap(ex.out) > 64<<10 {
		ex.out = nil
	}
	if cap(ex.body) > 64<<10 {
		ex.body = nil
	}
	if cap(ex.w.body) > 64<<10 {
		ex.w.body = nil
	}
	if cap(ex.w.headBuf) > 64<<10 {
		ex.w.headBuf = nil
	}
	exPool.Put(ex)
}

// hconn is the HTTP side of one poller connection. It is reused: once
// the connection is closed or hijacked and nothing holds it any more (see
// refs), it goes back to its server's pool with its buffers, so a
// connection that is upgraded at once leaves no garbage behind.
type hconn struct {
	srv *Server
	c   poller.Conn // the connection bound now; nil while pooled

	// loop-only (OnData) state
	p        parser
	rstate   uint8
	cur      *exchange // exchange whose body is being read
	bodyLeft int64
	chunk    chunkDecoder

	mu sync.Mutex
	// refs counts what may still use h for the connection bound now: the
	// connection itself (until it closes or is handed off), a loop
	// callback in progress, each handler goroutine, and the timer while
	// it is armed or its callback runs. The last one out returns h to
	// the pool. A count of zero is final: acquire never revives it, so
	// a stale pointer (a loop that read the connection's context just
	// before the hand-off) cannot reach a reused h. It sits next to mu,
	// whose line its users write anyway, not on the line of srv and c,
	// which every goroutine reads.
	refs atomic.Int32

	queue    []*exchange
	running  int  // handlers on goroutines
	writing  bool // a flusher is active
	dirty    bool // more output arrived while it wrote
	paused   bool
	blocked  bool // an upgrade request waits for its handler
	stopped  bool // no further requests will be answered
	dead     bool // output is over: drop responses
	closed   bool
	hijacked bool
	connGone bool           // the connection's reference was dropped (close or hand-off)
	eof      bool           // the peer's FIN came: end after the last owed response
	eofTo    bool           // ... and it came before a pending hand-off, whose new handler is told at the hand-off
	handTo   poller.Handler // the hijacker, once handed off
	armed    bool           // tm is pending or its callback has not started yet
	iov      [][]byte
	rec      []*exchange

	// Output the connection refused with poller.ErrOutputLimit (its queue
	// is at the engine's MaxOutput), with what was to follow it: it goes
	// first once the queue has drained. Until then (stalled) nothing else is
	// written, no request is taken on and streaming handlers wait in
	// waitRoom, so a slow reader slows the handler instead of cutting its
	// response short. A drainer goroutine, holding a reference, ends it.
	held       [][]byte
	heldRec    []*exchange
	heldClose  bool
	heldHijack *exchange
	stalled    bool
	broken     bool // a write failed: the connection is going down
	timedOut   bool // the drainer closed it: no progress within WriteTimeout
	// room wakes handlers waiting in waitRoom (its L is &mu).
	room sync.Cond
	// tm enforces the timeouts; embedded, so arming it allocates nothing.
	tm wheel.Timer

	lastActive  atomic.Int64
	headStart   atomic.Int64 // when the pending partial head began; 0 if none
	readingBody atomic.Bool
}

// newHconn binds a pooled (or new) hconn to c, holding the connection's
// reference.
func newHconn(s *Server, c poller.Conn) *hconn {
	h, _ := s.hpool.Get().(*hconn)
	if h == nil {
		h = &hconn{srv: s}
		h.room.L = &h.mu
		h.p.init(s.set.MaxHeaderBytes, s.set.MaxURILength, s.set.MaxHeaders)
		h.tm.Init(timers(), h.onTimer)
	}
	h.c = c
	h.lastActive.Store(monoNow())
	// Published last: acquire reads h.c only after seeing a count this
	// store (or a later change) wrote.
	h.refs.Store(1)
	return h
}

// acquire takes a reference on h for a caller that found it through c (the
// connection's context or handler), which may be stale: it fails when h
// was released meanwhile or is bound to another connection by now.
func (h *hconn) acquire(c poller.Conn) bool {
	for {
		r := h.refs.Load()
		if r <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(r, r+1) {
			break
		}
	}
	if h.c != c {
		h.unref()
		return false
	}
	return true
}

// unref drops a reference; the last one returns h to the pool.
func (h *hconn) unref() {
	if h.refs.Add(-1) == 0 {
		h.release()
	}
}

// dropConnLocked reports whether the connection's reference is still to
// be dropped, and marks it dropped; h.mu is held.
func (h *hconn) dropConnLocked() bool {
	if h.connGone {
		return false
	}
	h.connGone = true
	return true
}

// armLocked schedules the timer after d, taking its reference unless it
// holds one already; h.mu is held.
func (h *hconn) armLocked(d time.Duration) {
	if !h.armed {
		h.armed = true
		h.refs.Add(1)
	}
	h.tm.Reset(d)
}

// stopTimerLocked cancels the timer; when its callback is already on its
// way, the callback drops the timer's reference instead. h.mu is held.
func (h *hconn) stopTimerLocked() bool {
	if h.armed && h.tm.Stop() {
		h.armed = false
		return true
	}
	return false
}

// release resets h for the next connection and pools it; nothing else
// holds it (refs reached zero).
func (h *hconn) release() {
	h.c = nil
	h.rstate = rsHead
	h.cur = nil
	h.bodyLeft = 0
	h.chunk.reset()
	// Responses still queued belong to a connection that died; their
	// exchanges are left to the collector rather than reused.
	clear(h.queue)
	h.queue = h.queue[:0]
	h.running = 0
	h.writing, h.dirty, h.paused, h.blocked = false, false, false, false
	h.stopped, h.dead, h.closed, h.hijacked = false, false, false, false
	h.connGone, h.armed = false, false
	h.eof, h.eofTo, h.handTo = false, false, nil
	clear(h.iov)
	h.iov = h.iov[:0]
	clear(h.rec)
	h.rec = h.rec[:0]
	h.held, h.heldRec, h.heldClose, h.heldHijack = nil, nil, false, nil
	h.stalled, h.broken, h.timedOut = false, false, false
	h.headStart.Store(0)
	h.readingBody.Store(false)
	h.p.reset()
	if cap(h.p.fields) > 4*pooledFields {
		h.p.release()
	}
	if cap(h.queue) > 64 {
		h.queue = nil
	}
	h.srv.hpool.Put(h)
}

// canStartLocked reports whether another request may be taken on.
func (h *hconn) canStartLocked() bool {
	return !h.blocked && !h.stopped && !h.stalled && len(h.queue) < maxQueued && h.running < h.srv.set.MaxConcurrentPerConn
}

// onData is the pipeline: it parses as many requests as the bytes hold,
// runs or starts their handlers, and writes every response that is ready
// with one Writev at the end.
func (h *hconn) onData(b []byte) int {
	h.lastActive.Store(monoNow())
	consumed := h.consume(b)
	h.flush()
	return consumed
}

func (h *hconn) consume(b []byte) int {
	consumed := 0
	for consumed < len(b) {
		switch h.rstate {
		case rsStopped:
			return len(b)
		case rsBody:
			n := int64(len(b) - consumed)
			if n > h.bodyLeft {
				n = h.bodyLeft
			}
			ex := h.cur
			ex.body = append(ex.body, b[consumed:consumed+int(n)]...)
			consumed += int(n)
			h.bodyLeft -= n
			if h.bodyLeft == 0 {
				h.bodyDone(ex)
			}
		case rsChunked:
			ex := h.cur
			n, body, done, err := h.chunk.decode(b[consumed:], ex.body, h.srv.set.MaxBodyBytes)
			ex.body = body
			consumed += n
			if err != nil {
				h.failExchange(ex, err)
				return len(b)
			}
			if done {
				h.bodyDone(ex)
			}
		case rsHead:
			h.mu.Lock()
			if h.hijacked {
				// Handed off inside this call: the rest is the new
				// handler's, and pausing would pause it.
				h.mu.Unlock()
				return consumed
			}
			if !h.canStartLocked() {
				if h.stopped {
					h.mu.Unlock()
					h.rstate = rsStopped
					return len(b)
				}
				if len(h.queue) >= maxQueued && !h.writing {
					// A full queue of finished inline responses: write
					// them and go on.
					h.mu.Unlock()
					h.flush()
					h.mu.Lock()
				}
				if !h.canStartLocked() {
					h.paused = true
					h.c.PauseRead()
					h.mu.Unlock()
					return consumed
				}
			}
			h.mu.Unlock()
			rest := b[consumed:]
			n, err := h.p.parse(rest)
			if err != nil {
				h.fail(err)
				return len(b)
			}
			if n == 0 {
				if h.headStart.Load() == 0 {
					h.headStart.Store(monoNow())
				}
				return consumed
			}
			h.headStart.Store(0)
			k, wait := h.startRequest(rest, n)
			if wait {
				return consumed
			}
			consumed += k
		}
	}
	return consumed
}

// startRequest handles a complete head of length n at the start of b. It
// returns the bytes consumed, or wait when a small body is still arriving
// and the whole request should be offered again later.
func (h *hconn) startRequest(b []byte, n int) (int, bool) {
	set := &h.srv.set
	ex := h.newExchange()
	r := &ex.req
	r.build(&h.p, b[:n], r.Header.fields)
	if rerr := r.frame(set.MaxBodyBytes); rerr != nil {
		recycle(ex)
		h.p.reset()
		h.fail(rerr)
		return len(b), false
	}
	r.conn = h.c
	if h.srv.closing.Load() {
		r.Close = true
	}
	switch {
	case r.chunked:
		h.own(ex, b[:n])
		h.p.reset()
		h.enqueueReading(ex)
		h.rstate = rsChunked
		h.chunk.reset()
		ex.body = ex.body[:0]
		return n, false
	case r.ContentLength > 0:
		total := int64(n) + r.ContentLength
		if int64(len(b)) >= total {
			r.Body = b[n:total]
			h.p.reset()
			h.dispatch(ex, b[:n], false)
			return int(total), false
		}
		if total <= 64<<10 && !r.expectContinue {
			// Small body on its way: leave the bytes in the poller's
			// buffer and parse nothing again (the parser stays done).
			recycle(ex)
			h.readingBody.Store(true)
			return 0, true
		}
		h.own(ex, b[:n])
		h.p.reset()
		ex.body = append(ex.body[:0], b[n:]...)
		h.bodyLeft = r.ContentLength - int64(len(b)-n)
		h.enqueueReading(ex)
		h.rstate = rsBody
		return len(b), false
	default:
		h.p.reset()
		h.dispatch(ex, b[:n], false)
		return n, false
	}
}

// own copies the head into the exchange and points the request at it.
func (h *hconn) own(ex *exchange, head []byte) {
	ex.head = append(ex.head[:0], head...)
	ex.req.rebase(head, ex.head)
}

// enqueueReading queues an exchange whose body is still arriving, with the
// interim 100 Continue it asked for.
func (h *hconn) enqueueReading(ex *exchange) {
	h.cur = ex
	h.readingBody.Store(true)
	h.mu.Lock()
	h.queue = append(h.queue, ex)
	if ex.req.expectContinue && ex.req.ProtoMinor >= 1 {
		ex.pending = append(ex.pending, continueLine)
	}
	h.mu.Unlock()
}

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

func (h *hconn) bodyDone(ex *exchange) {
	h.cur = nil
	h.readingBody.Store(false)
	h.rstate = rsHead
	ex.req.Body = ex.body
	if ex.req.chunked {
		ex.req.ContentLength = -1
	}
	h.dispatch(ex, nil, true)
}

// dispatch runs ex's handler inline or on a goroutine. head is the head in
// the read buffer when ex does not own it yet; queued says ex is already in
// the queue.
func (h *hconn) dispatch(ex *exchange, head []byte, queued bool) {
	h.readingBody.Store(false)
	r := &ex.req
	w := &ex.w
	w.isHead = r.Method == "HEAD"
	w.minor = r.ProtoMinor
	w.closeAfter = r.Close
	w.keepAlive = r.keepAlive10
	h.mu.Lock()
	earlier := len(h.queue)
	if queued {
		earlier--
	} else {
		h.queue = append(h.queue, ex)
	}
	if r.Close {
		h.stopped = true
	}
	if r.upgrade || r.Method == "CONNECT" {
		h.blocked = true
	}
	inline := h.srv.runInline(r) && !(h.blocked && earlier > 0)
	if !inline {
		h.running++
		// The goroutine's reference, dropped when it is done with h;
		// taken here, where h.mu's line (refs's too) is ours anyway.
		h.refs.Add(1)
	}
	h.mu.Unlock()
	if r.Close {
		h.rstate = rsStopped
	}
	if inline {
		ex.inline = true
		h.srv.serve(ex)
		hijacked := ex.w.hijacking
		h.finish(ex)
		if hijacked {
			recycle(ex)
		}
		return
	}
	if head != nil {
		h.own(ex, head)
		if len(r.Body) > 0 {
			ex.body = append(ex.body[:0], r.Body...)
			r.Body = ex.body
		}
	}
	if r.upgrade || r.Method == "CONNECT" {
		// An upgrade (or CONNECT): its goroutine is started without
		// garbage, see spawnq.
		select {
		case spawnq <- ex:
			go runSpawned()
			return
		default:
		}
	}
	go h.runAsync(ex)
}

// spawnq hands new upgrade handler goroutines their exchanges. A go
// statement with arguments allocates a closure for them (24 bytes per
// upgrade, garbage once the connection is handed off); one on a function
// without any allocates nothing. Every send is followed by one
// runSpawned, so each finds an exchange waiting, though not necessarily
// the one sent just before it was started. Plain requests keep the go
// statement: with many handlers starting at once the channel's lock costs
// more than the closure.
var spawnq = make(chan *exchange, 256)

func runSpawned() {
	ex := <-spawnq
	ex.c.runAsync(ex)
}

func (h *hconn) runAsync(ex *exchange) {
	h.srv.serve(ex)
	// Read before finish: once finished, a flusher may recycle ex. A
	// hijacked exchange is recycled here instead, when its handler has
	// returned: the queue let go of it at the hand-off (or when the
	// hijack failed), Hijack returned only after that, and r and w are
	// valid only during ServeHTTP, so nothing else holds it. Every upgrade
	// would otherwise leave an exchange and its buffers to the collector.
	hijacked := ex.w.hijacking
	h.finish(ex)
	h.flush()
	if hijacked {
		recycle(ex)
	}
	h.unref()
}

// finish records the handler's response as complete.
func (h *hconn) finish(ex *exchange) {
	if ex.w.finished {
		return // Hijack finished it already
	}
	if h.srv.closing.Load() {
		ex.w.closeAfter = true
	}
	out := ex.w.finish(ex.out[:0])
	ex.out = out
	h.mu.Lock()
	if !ex.inline {
		h.running--
	}
	ex.pending = append(ex.pending, out)
	ex.done = true
	ex.closeAfter = ex.w.closeAfter
	ex.hijack = ex.w.hijack
	if ex.closeAfter {
		h.stopped = true
	}
	if ex.req.upgrade || ex.req.Method == "CONNECT" {
		if ex.hijack == nil {
			h.blocked = false
		}
	}
	h.mu.Unlock()
}

// maxPending bounds the streamed bytes a response running on a goroutine
// may pile up while the responses before it on its connection are still
// being written: past it its handler waits (waitRoom).
const maxPending = 1 << 20

// fail answers a refused request and stops reading requests.
func (h *hconn) fail(err error) {
	ex := h.newExchange()
	h.errorInto(ex, err)
	h.mu.Lock()
	h.queue = append(h.queue, ex)
	h.stopped = true
	h.mu.Unlock()
	h.rstate = rsStopped
	h.readingBody.Store(false)
}

// failExchange turns an exchange whose body was being read into an error
// response.
func (h *hconn) failExchange(ex *exchange, err error) {
	h.cur = nil
	h.errorInto(ex, err)
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.rstate = rsStopped
	h.readingBody.Store(false)
}

func (h *hconn) errorInto(ex *exchange, err error) {
	status, msg := 400, err.Error()
	if re, ok := err.(*RequestError); ok {
		status, msg = re.Status, re.Err.Error()
	}
	ex.out = appendErrorResponse(ex.out[:0], status, msg)
	h.mu.Lock()
	ex.pending = append(ex.pending, ex.out)
	ex.done, ex.closeAfter = true, true
	ex.inline = true
	h.mu.Unlock()
}
