// Package wheel is a hashed timing wheel: many timers of coarse resolution
// (one tick) for the price of one goroutine and one time.Ticker per wheel,
// instead of one runtime timer per connection.
//
// Adding and stopping a timer are O(1): a timer sits in the slot of the tick
// it fires on, with a rounds counter for delays longer than one revolution.
// The driving goroutine starts with the first pending timer and exits when
// none is left, so an idle wheel costs no goroutine.
//
// A timer never fires early: it runs on the first tick at or after its
// deadline, so it is late by at most one tick plus scheduling delay.
// Callbacks run on the wheel's goroutine, one after another; a callback that
// blocks delays every other timer of the wheel.
package wheel

import (
	"sync"
	"time"
)

// slots is the number of buckets per revolution (a power of two). With the
// default 10 ms tick one revolution is about 5 s, which covers ping and idle
// timeouts with few rounds.
const (
	slotBits = 9
	slots    = 1 << slotBits
	slotMask = slots - 1
)

// Timer states. A Timer moves idle → pending (Reset) → firing → idle, or
// pending → idle (Stop).
const (
	stateIdle uint8 = iota
	statePending
)

// Timer is one callback on a wheel. The zero value is unusable: get one from
// Wheel.AfterFunc, or embed a Timer in a longer-lived struct and call Init
// once, then Reset/Stop it as often as needed without allocating.
//
// Methods are safe for concurrent use.
type Timer struct {
	next, prev *Timer // slot list, guarded by w.mu
	w          *Wheel
	f          func()
	rounds     int64
	slot       int32
	state      uint8
}

// Wheel drives timers. Create it with New; the zero value is unusable.
type Wheel struct {
	tick  time.Duration
	start time.Time

	mu      sync.Mutex
	buckets [slots]Timer // sentinel heads of circular lists
	now     int64        // ticks processed since start
	pending int
	running bool
	closed  bool
	wake    chan struct{} // closed by Close to stop the driver
	manual  bool          // tests drive ticks by hand: never start the driver

	// elapsed is the clock: time since start (replaced in tests).
	elapsed func() time.Duration

	fire []func() // driver-owned scratch: callbacks due on this tick
}

// New returns a wheel whose resolution is tick (which must be positive).
func New(tick time.Duration) *Wheel {
	if tick <= 0 {
		panic("wheel: non-positive tick")
	}
	w := &Wheel{tick: tick, start: time.Now(), wake: make(chan struct{})}
	w.elapsed = func() time.Duration { return time.Since(w.start) }
	for i := range w.buckets {
		b := &w.buckets[i]
		b.next, b.prev = b, b
	}
	return w
}

// Tick is the wheel's resolution.
func (w *Wheel) Tick() time.Duration { return w.tick }

// AfterFunc runs f on the wheel's goroutine once d has passed (d <= 0 means
// on the next tick). It allocates the returned Timer; use an embedded Timer
// with Init and Reset to avoid that. After Close it returns a Timer that
// never fires.
func (w *Wheel) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{w: w, f: f}
	t.Reset(d)
	return t
}

// Init binds an embedded Timer to w and f. It must be called before the
// first Reset and never while the timer is pending.
func (t *Timer) Init(w *Wheel, f func()) {
	t.w = w
	t.f = f
}

// Reset (re)schedules the timer to fire after d. It reports whether the
// timer was pending (and is now rescheduled) rather than idle or already
// fired. On a closed wheel the timer stays idle.
func (t *Timer) Reset(d time.Duration) bool {
	w := t.w
	w.mu.Lock()
	was := t.state == statePending
	if was {
		w.unlink(t)
	}
	if w.closed {
		w.mu.Unlock()
		return was
	}
	if !w.running && !w.manual {
		// No driver means no pending timer: the slots are empty, so the
		// clock can jump to the present without touching anything.
		w.now = int64(w.elapsed() / w.tick)
	}
	// The tick whose processing starts at or after the deadline; the
	// driver processes tick k no earlier than start + k*tick.
	due := int64((w.elapsed() + d + w.tick - 1) / w.tick)
	n := due - w.now
	if n < 1 {
		n = 1
	}
	t.rounds = (n - 1) >> slotBits
	t.slot = int32((w.now + n) & slotMask)
	head := &w.buckets[t.slot]
	t.prev = head.prev
	t.next = head
	head.prev.next = t
	head.prev = t
	t.state = statePending
	w.pending++
	if !w.running && !w.manual {
		w.running = true
		go w.run()
	}
	w.mu.Unlock()
	return was
}

// Stop cancels the timer. Like time.Timer.Stop it reports whether it
// stopped f from running: false when f already ran, is running, or the timer
// was never started or already stopped.
func (t *Timer) Stop() bool {
	w := t.w
	if w == nil {
		return false
	}
	w.mu.Lock()
	was := t.state == statePending
	if was {
		w.unlink(t)
	}
	w.mu.Unlock()
	return was
}

// unlink removes a pending t from its slot; w.mu is held.
func (w *Wheel) unlink(t *Timer) {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.next, t.prev = nil, nil
	t.state = stateIdle
	w.pending--
}

// Close stops the driver and drops every pending timer without running it.
// Later Reset and AfterFunc calls schedule nothing. Close is idempotent.
func (w *Wheel) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	for i := range w.buckets {
		head := &w.buckets[i]
		for head.next != head {
			w.unlink(head.next)
		}
	}
	close(w.wake)
	w.mu.Unlock()
}

// Pending is the number of scheduled timers (for tests and metrics).
func (w *Wheel) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// run is the driver: it advances the wheel to the wall clock on every tick
// (catching up on ticks a busy scheduler made it miss) and exits when no
// timer is pending.
func (w *Wheel) run() {
	tk := time.NewTicker(w.tick)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
		case <-w.wake:
			return
		}
		if !w.advance(int64(w.elapsed() / w.tick)) {
			return
		}
	}
}

// advance processes ticks up to target and reports whether the driver
// should keep running (timers are pending and the wheel is open).
func (w *Wheel) advance(target int64) bool {
	w.mu.Lock()
	for w.now < target && w.pending > 0 {
		w.now++
		w.collect(&w.buckets[w.now&slotMask])
		if len(w.fire) > 0 {
			// Run due callbacks without the lock so they may add or stop
			// timers; their slot is behind us, so a timer they schedule
			// lands on a later tick.
			fire := w.fire
			w.mu.Unlock()
			for i, f := range fire {
				fire[i] = nil
				f()
			}
			w.fire = fire[:0]
			w.mu.Lock()
		}
	}
	if w.pending == 0 || w.closed {
		// Every slot is empty: the clock may jump to the present.
		w.now = max(w.now, target)
		w.running = false
		w.mu.Unlock()
		return false
	}
	w.mu.Unlock()
	return true
}

// collect moves the due timers of one slot to w.fire; w.mu is held.
func (w *Wheel) collect(head *Timer) {
	for t := head.next; t != head; {
		next := t.next
		if t.rounds > 0 {
			t.rounds--
		} else {
			w.unlink(t)
			w.fire = append(w.fire, t.f)
		}
		t = next
	}
}
