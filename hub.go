package rawws

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rawws/rawws/frame"
)

// ErrNotData: Publish was given an opcode other than text or binary.
var ErrNotData = errors.New("rawws: publish needs a text or binary opcode")

// SlowPolicy is what a Hub does with a subscriber whose outgoing queue is
// full when a message is published (a peer that reads slower than the
// topic goes, or not at all). The publisher never waits for it either way.
type SlowPolicy uint8

const (
	// SlowSession applies the subscriber's own Options.QueueFull
	// (QueueFullError drops, QueueFullClose closes), whatever its mode.
	SlowSession SlowPolicy = iota
	// SlowDrop drops the message for that subscriber only; the session goes
	// on, its drop counter (Server.Metrics) and HubStats.Dropped grow.
	SlowDrop
	// SlowClose closes the subscriber with 1008 (policy violation) and
	// counts it in HubStats.Closed; it leaves every topic when its
	// connection is gone.
	SlowClose
)

// HubOptions configure a Hub. The zero value gives SlowSession and no
// upstream.
type HubOptions struct {
	SlowPolicy SlowPolicy
	// Upstream, when set, bridges the hub to a broker (see Subscriber): the
	// hub subscribes to a topic upstream while it has local subscribers to
	// it, and the broker's messages are published to them.
	Upstream Subscriber
	// Writers, when > 0, moves the writes off the publisher: Publish
	// queues the message on every subscriber and returns, and up to Writers
	// goroutines (started on demand, gone when idle; none per subscriber)
	// write the sessions. While they work through a large topic, the next
	// messages pile up in the sessions' queues and go out with the earlier
	// ones in one Writev per session: under load, fewer system calls per
	// message. When the writers are saturated the publisher writes itself.
	// 0 (the default) writes on the publisher's goroutine before Publish
	// returns.
	Writers int
}

// HubStats are a Hub's counters since it was made.
type HubStats struct {
	Topics        int // topics with at least one subscriber
	Subscriptions int // (topic, session) pairs
	Published     uint64
	// Delivered counts (message, subscriber) pairs queued; Dropped and
	// Closed the ones refused for a full queue (Closed: the subscriber was
	// closed with 1008); Skipped the ones for subscribers already closing.
	Delivered uint64
	Dropped   uint64
	Closed    uint64
	Skipped   uint64
}

// Hub fans messages out to the sessions subscribed to a topic, in process.
// Each message is encoded once (a PreparedFrame) and shared by every
// subscriber's queue; publishing starts no goroutine and never waits for a
// subscriber: a full queue is handled by HubOptions.SlowPolicy.
//
// Ordering guarantee: publishing to a topic holds that topic's lock while
// the message is queued on its subscribers (queueing only appends to each
// session's queue; the writes happen after the lock is released), so all
// subscribers of a topic get its messages in one and the same order, even
// with concurrent publishers. Messages of different topics are not ordered
// with each other. A dropped message is missing for that subscriber only;
// the rest keep their order.
//
// A session leaves every topic of every hub when its connection is gone
// (no call needed); UnsubscribeAll does it earlier. All methods are safe
// for concurrent use.
type Hub struct {
	opts HubOptions

	mu     sync.RWMutex
	topics map[string]*hubTopic
	subs   map[*Session]map[string]struct{} // topics of each session

	published, delivered, dropped, closed, skipped atomic.Uint64

	upMu sync.Mutex
	up   map[string]func() // upstream cancel per topic

	work     chan *fanout // publishes whose writes wait for a writer
	flushers atomic.Int32 // writer goroutines running
}

// hubTopic is one topic's subscribers.
type hubTopic struct {
	mu   sync.Mutex
	subs []*Session
	idx  map[*Session]int
}

// NewHub returns an empty hub.
func NewHub(o HubOptions) *Hub {
	h := &Hub{
		opts:   o,
		topics: make(map[string]*hubTopic),
		subs:   make(map[*Session]map[string]struct{}),
		up:     make(map[string]func()),
	}
	if o.Writers > 0 {
		h.work = make(chan *fanout, 64*o.Writers)
	}
	return h
}

// Subscribe adds s to topic (again: no effect). It fails with ErrClosed
// when the session is gone, and returns the upstream's error (wrapped) when
// subscribing upstream failed; the local subscription stands and the
// upstream is tried again at the next Subscribe to the topic.
func (h *Hub) Subscribe(topic string, s *Session) error {
	h.mu.Lock()
	ts := h.subs[s]
	if ts == nil {
		if c := s.hubState(); c == nil || !c.hubs.add(h) {
			h.mu.Unlock()
			return fmt.Errorf("rawws: subscribe %q: %w", topic, ErrClosed)
		}
		ts = make(map[string]struct{})
		h.subs[s] = ts
	}
	if _, ok := ts[topic]; !ok {
		ts[topic] = struct{}{}
		t := h.topics[topic]
		if t == nil {
			t = &hubTopic{idx: make(map[*Session]int)}
			h.topics[topic] = t
		}
		t.mu.Lock()
		t.idx[s] = len(t.subs)
		t.subs = append(t.subs, s)
		t.mu.Unlock()
	}
	h.mu.Unlock()
	if err := h.syncUpstream(topic); err != nil {
		return fmt.Errorf("rawws: subscribe %q upstream: %w", topic, err)
	}
	return nil
}

// Unsubscribe removes s from topic (not subscribed: no effect).
func (h *Hub) Unsubscribe(topic string, s *Session) {
	h.mu.Lock()
	ts := h.subs[s]
	if _, ok := ts[topic]; !ok {
		h.mu.Unlock()
		return
	}
	delete(ts, topic)
	if len(ts) == 0 {
		delete(h.subs, s)
		s.coldState().hubs.remove(h)
	}
	h.removeLocked(topic, s)
	h.mu.Unlock()
	h.syncUpstream(topic)
}

// UnsubscribeAll removes s from every topic of h. It runs by itself when
// the session's connection is gone.
func (h *Hub) UnsubscribeAll(s *Session) {
	h.mu.Lock()
	ts := h.subs[s]
	delete(h.subs, s)
	for topic := range ts {
		h.removeLocked(topic, s)
	}
	h.mu.Unlock()
	if c := s.cold.Load(); c != nil {
		c.hubs.remove(h)
	}
	if h.opts.Upstream != nil {
		for topic := range ts {
			h.syncUpstream(topic)
		}
	}
}

// removeLocked takes s out of topic's list; a topic left empty is
// forgotten. h.mu is held.
func (h *Hub) removeLocked(topic string, s *Session) {
	t := h.topics[topic]
	if t == nil {
		return
	}
	t.mu.Lock()
	if i, ok := t.idx[s]; ok {
		last := len(t.subs) - 1
		t.subs[i] = t.subs[last]
		t.idx[t.subs[i]] = i
		t.subs[last] = nil
		t.subs = t.subs[:last]
		delete(t.idx, s)
	}
	empty := len(t.subs) == 0
	t.mu.Unlock()
	if empty {
		// A publisher that looked the topic up before this still holds
		// it: it finds no subscriber, which is right for a topic that had
		// none left.
		delete(h.topics, topic)
	}
}

// Publish sends one message to every current subscriber of topic, encoded
// once into a pooled buffer (payload is only read during the call). It
// never blocks on a subscriber: see Hub for order and SlowPolicy for full
// queues. Subscribers whose writer is idle are written, after the topic's
// lock is released, on the calling goroutine before Publish returns, or by
// the hub's writer goroutines (HubOptions.Writers). It
// fails only with ErrNotData for a control or continuation opcode. With an
// Upstream bridge, Publish reaches this hub's subscribers only.
func (h *Hub) Publish(topic string, op frame.Opcode, payload []byte) error {
	if op != frame.OpText && op != frame.OpBinary {
		return fmt.Errorf("rawws: publish %v to %q: %w", op, topic, ErrNotData)
	}
	h.mu.RLock()
	t := h.topics[topic]
	h.mu.RUnlock()
	h.published.Add(1)
	if t == nil {
		return nil
	}
	pf := getPrepared(frame.Frame{Fin: true, Opcode: op, Payload: payload})
	h.publish(t, pf)
	pf.release()
	return nil
}

// PublishPrepared is Publish of a frame the caller prepared (and still
// owns); it returns what became of it for each subscriber.
func (h *Hub) PublishPrepared(topic string, pf *PreparedFrame) (BroadcastResult, error) {
	if !pf.live() {
		return BroadcastResult{}, ErrPreparedReleased
	}
	h.mu.RLock()
	t := h.topics[topic]
	h.mu.RUnlock()
	h.published.Add(1)
	if t == nil {
		return BroadcastResult{}, nil
	}
	return h.publish(t, pf), nil
}

// publish queues pf on t's subscribers under t's lock (the order every
// subscriber sees), then writes and closes with no lock held.
func (h *Hub) publish(t *hubTopic, pf *PreparedFrame) BroadcastResult {
	policy := slowFromSession
	switch h.opts.SlowPolicy {
	case SlowDrop:
		policy = slowDrop
	case SlowClose:
		policy = slowClose
	}
	sc := getScratch()
	var r BroadcastResult
	t.mu.Lock()
	for _, s := range t.subs {
		r.add(sc.queue(s, pf, policy))
	}
	t.mu.Unlock()
	h.dispatch(sc)
	h.delivered.Add(uint64(r.Sent))
	if r.Dropped > 0 {
		h.dropped.Add(uint64(r.Dropped))
	}
	if r.Closed > 0 {
		h.closed.Add(uint64(r.Closed))
	}
	if r.Skipped > 0 {
		h.skipped.Add(uint64(r.Skipped))
	}
	return r
}

// dispatch has sc's writes done: by the writer goroutines when the hub
// has them (a large fan-out split among them), else right here.
func (h *Hub) dispatch(sc *fanout) {
	if h.work == nil || len(sc.claimed)+len(sc.closing) == 0 {
		sc.finish()
		return
	}
	if w := h.opts.Writers; w > 1 && len(sc.claimed) >= 2*splitMin {
		per := max(splitMin, (len(sc.claimed)+w-1)/w)
		for len(sc.claimed) > per {
			rest := sc.claimed[len(sc.claimed)-per:]
			part := getScratch()
			part.claimed = append(part.claimed, rest...)
			clear(rest)
			sc.claimed = sc.claimed[:len(sc.claimed)-per]
			h.enqueue(part)
		}
	}
	h.enqueue(sc)
}

// splitMin is the fewest sessions worth handing to another writer.
const splitMin = 128

// enqueue gives sc to a writer goroutine, or runs it here when the
// writers are saturated (the publisher pays rather than queue unbounded).
func (h *Hub) enqueue(sc *fanout) {
	select {
	case h.work <- sc:
		h.startFlusher()
	default:
		sc.finish()
	}
}

// startFlusher starts a writer goroutine unless Writers already run.
func (h *Hub) startFlusher() {
	if h.reacquire() {
		go h.flush()
	}
}

// flush is a writer goroutine: it runs queued publishes' writes and ends
// when there are none. A publish queued while it was leaving finds the
// count lowered and starts another, or is seen by the recheck here.
func (h *Hub) flush() {
	for {
		select {
		case sc := <-h.work:
			sc.finish()
			continue
		default:
		}
		h.flushers.Add(-1)
		if len(h.work) == 0 || !h.reacquire() {
			return
		}
	}
}

// reacquire takes a writer slot if one is free.
func (h *Hub) reacquire() bool {
	for {
		n := h.flushers.Load()
		if n >= int32(h.opts.Writers) {
			return false // the running writers will see the work
		}
		if h.flushers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Subscribers returns how many sessions are subscribed to topic.
func (h *Hub) Subscribers(topic string) int {
	h.mu.RLock()
	t := h.topics[topic]
	h.mu.RUnlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs)
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	h.mu.RLock()
	st := HubStats{Topics: len(h.topics)}
	for _, ts := range h.subs {
		st.Subscriptions += len(ts)
	}
	h.mu.RUnlock()
	st.Published = h.published.Load()
	st.Delivered = h.delivered.Load()
	st.Dropped = h.dropped.Load()
	st.Closed = h.closed.Load()
	st.Skipped = h.skipped.Load()
	return st
}

// hubLinks are the hubs a session is subscribed on, so it can leave them
// when its connection is gone.
type hubLinks struct {
	mu   sync.Mutex
	gone bool
	hubs []*Hub
}

// add links h; it reports false once the session is gone.
func (l *hubLinks) add(h *Hub) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone {
		return false
	}
	l.hubs = append(l.hubs, h)
	return true
}

// remove unlinks h.
func (l *hubLinks) remove(h *Hub) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.hubs {
		if x == h {
			last := len(l.hubs) - 1
			l.hubs[i] = l.hubs[last]
			l.hubs[last] = nil
			l.hubs = l.hubs[:last]
			return
		}
	}
}

// hubState returns the cold state that holds s's hub links, or nil once
// the session is closed. Making it under mu orders it with OnClose, which
// looks for the links under mu right after marking the session closed.
func (s *Session) hubState() *sessionCold {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.coldState()
}

// leaveHubs unsubscribes s from every hub; OnClose calls it with the
// session's cold state, where the links live. A Subscribe racing with it
// made that state before OnClose looked (it checks closed under mu first),
// or finds gone set and fails.
func (s *Session) leaveHubs(c *sessionCold) {
	c.hubs.mu.Lock()
	c.hubs.gone = true
	hubs := c.hubs.hubs
	c.hubs.hubs = nil
	c.hubs.mu.Unlock()
	for _, h := range hubs {
		h.UnsubscribeAll(s)
	}
}
