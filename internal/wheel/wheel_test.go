package wheel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// manualWheel is a wheel whose clock and ticks the test drives.
type manualWheel struct {
	*Wheel
	clock time.Duration
}

func newManual(tick time.Duration) *manualWheel {
	m := &manualWheel{Wheel: New(tick)}
	m.manual = true
	m.elapsed = func() time.Duration { return m.clock }
	return m
}

// step moves the clock by d and processes the ticks that passed.
func (m *manualWheel) step(d time.Duration) {
	m.clock += d
	m.advance(int64(m.clock / m.tick))
}

func TestFiresOnFirstTickAtOrAfterDeadline(t *testing.T) {
	const tick = 10 * time.Millisecond
	cases := []struct {
		name  string
		delay time.Duration
		phase time.Duration // clock offset within a tick when scheduling
	}{
		{"zero", 0, 0},
		{"oneTick", tick, 0},
		{"subTick", 3 * time.Millisecond, 0},
		{"midTick", 25 * time.Millisecond, 7 * time.Millisecond},
		{"fullRevolution", slots * tick, 0},
		{"revolutionPlusOne", (slots + 1) * tick, 0},
		{"threeRevolutions", 3*slots*tick + 5*tick + time.Millisecond, 4 * time.Millisecond},
		{"negative", -time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newManual(tick)
			m.step(100*tick + tc.phase)
			at := m.clock
			var firedAt time.Duration = -1
			m.AfterFunc(tc.delay, func() { firedAt = m.clock })
			for i := 0; i < 4*slots+10 && firedAt < 0; i++ {
				m.step(tick - m.clock%tick) // to the next tick boundary, as the driver runs
			}
			if firedAt < 0 {
				t.Fatal("never fired")
			}
			lo := at + max(tc.delay, 0)
			if firedAt < lo {
				t.Fatalf("fired at %v, before deadline %v", firedAt, lo)
			}
			if firedAt > lo+tick {
				t.Fatalf("fired at %v, more than a tick after deadline %v", firedAt, lo)
			}
			if m.Pending() != 0 {
				t.Fatalf("Pending() = %d after firing", m.Pending())
			}
		})
	}
}

func TestStop(t *testing.T) {
	m := newManual(time.Millisecond)
	var fired atomic.Int32
	a := m.AfterFunc(5*time.Millisecond, func() { fired.Add(1) })
	b := m.AfterFunc(5*time.Millisecond, func() { fired.Add(10) })
	if !a.Stop() {
		t.Fatal("Stop of a pending timer = false")
	}
	if a.Stop() {
		t.Fatal("second Stop = true")
	}
	for range 10 {
		m.step(time.Millisecond)
	}
	if got := fired.Load(); got != 10 {
		t.Fatalf("fired = %d, want only b (10)", got)
	}
	if b.Stop() {
		t.Fatal("Stop after firing = true")
	}
	var never Timer
	if never.Stop() {
		t.Fatal("Stop of a zero Timer = true")
	}
}

func TestResetAndReuse(t *testing.T) {
	m := newManual(time.Millisecond)
	var n int
	var tm Timer
	tm.Init(m.Wheel, func() { n++ })
	if tm.Reset(3 * time.Millisecond) {
		t.Fatal("Reset of an idle timer = true")
	}
	m.step(2 * time.Millisecond)
	if !tm.Reset(3 * time.Millisecond) { // pushed back before firing
		t.Fatal("Reset of a pending timer = false")
	}
	m.step(2 * time.Millisecond)
	if n != 0 {
		t.Fatal("fired at the old deadline")
	}
	m.step(2 * time.Millisecond)
	if n != 1 {
		t.Fatalf("fired %d times, want 1", n)
	}
	tm.Reset(time.Millisecond)
	m.step(2 * time.Millisecond)
	if n != 2 {
		t.Fatalf("reused timer fired %d times, want 2", n)
	}
}

func TestCallbackReschedules(t *testing.T) {
	m := newManual(time.Millisecond)
	var runs int
	var tm Timer
	tm.Init(m.Wheel, func() {
		runs++
		if runs < 5 {
			tm.Reset(2 * time.Millisecond)
		}
	})
	tm.Reset(2 * time.Millisecond)
	for range 30 {
		m.step(time.Millisecond)
	}
	if runs != 5 {
		t.Fatalf("periodic timer ran %d times, want 5", runs)
	}
}

func TestCloseDropsTimers(t *testing.T) {
	w := New(time.Millisecond)
	var fired atomic.Bool
	w.AfterFunc(20*time.Millisecond, func() { fired.Store(true) })
	w.Close()
	w.Close()
	late := w.AfterFunc(time.Millisecond, func() { fired.Store(true) })
	time.Sleep(50 * time.Millisecond)
	if fired.Load() {
		t.Fatal("timer fired after Close")
	}
	if late.Stop() {
		t.Fatal("timer scheduled after Close was pending")
	}
}

func TestRealClockAndDriverExit(t *testing.T) {
	g0 := runtime.NumGoroutine()
	w := New(5 * time.Millisecond)
	start := time.Now()
	done := make(chan time.Duration, 1)
	w.AfterFunc(30*time.Millisecond, func() { done <- time.Since(start) })
	select {
	case el := <-done:
		if el < 30*time.Millisecond {
			t.Fatalf("fired after %v, early", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timer never fired")
	}
	// With nothing pending the driver goroutine exits.
	end := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(end) {
		time.Sleep(5 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0 {
		t.Fatalf("%d goroutines, was %d: driver still running", g, g0)
	}
	// And starts again for the next timer.
	w.AfterFunc(0, func() { done <- 0 })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("restarted driver never fired")
	}
}

func TestConcurrentResetStop(t *testing.T) {
	w := New(time.Millisecond)
	defer w.Close()
	var fired, stopped atomic.Int64
	const n = 2000
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 8 {
				tm := w.AfterFunc(time.Duration(i%7)*time.Millisecond, func() { fired.Add(1) })
				if (i+g)%2 == 0 && tm.Stop() {
					stopped.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	end := time.Now().Add(10 * time.Second)
	for fired.Load()+stopped.Load() < n && time.Now().Before(end) {
		time.Sleep(5 * time.Millisecond)
	}
	if f, s := fired.Load(), stopped.Load(); f+s != n {
		t.Fatalf("fired %d + stopped %d != %d: a timer was lost or ran after Stop", f, s, n)
	}
}

func TestNoAllocs(t *testing.T) {
	m := newManual(time.Millisecond)
	var tm Timer
	tm.Init(m.Wheel, func() {})
	allocs := testing.AllocsPerRun(1000, func() {
		tm.Reset(time.Duration(3) * time.Millisecond)
		tm.Stop()
		tm.Reset(time.Millisecond)
		m.step(time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("Reset/Stop/fire allocate %v times", allocs)
	}
}

func BenchmarkAfterFuncStop(b *testing.B) {
	w := New(time.Millisecond)
	defer w.Close()
	f := func() {}
	b.ReportAllocs()
	for b.Loop() {
		w.AfterFunc(time.Second, f).Stop()
	}
}

func BenchmarkResetStop(b *testing.B) {
	w := New(time.Millisecond)
	defer w.Close()
	var tm Timer
	tm.Init(w, func() {})
	b.ReportAllocs()
	for b.Loop() {
		tm.Reset(time.Second)
		tm.Stop()
	}
}
