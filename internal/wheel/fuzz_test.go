package wheel

import (
	"testing"
	"time"
)

// FuzzWheel runs arbitrary sequences of AfterFunc, Stop and clock steps on a
// hand-driven wheel and checks each timer against a model: it fires exactly
// once, on the first tick at or after its deadline (and after the tick it
// was scheduled on), unless Stop reported that it stopped it.
func FuzzWheel(f *testing.F) {
	f.Add([]byte{0, 0, 5, 2, 0, 10})
	f.Add([]byte{0, 2, 1, 0, 0, 0, 1, 0, 0, 2, 9, 9})
	f.Add([]byte{0, 0x13, 0x88, 0, 0x05, 0x00, 2, 0x07, 0xd0, 1, 1, 0, 2, 0x07, 0xd0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const tick = time.Millisecond
		const unit = 100 * time.Microsecond
		m := newManual(tick)
		type model struct {
			tm      *Timer
			due     int64 // tick it must fire on
			stopped bool
			fired   int64 // tick it fired on, 0 if not
			count   int
		}
		var timers []*model
		for len(ops) >= 3 {
			op, v := ops[0]%3, int(ops[1])<<8|int(ops[2])
			ops = ops[3:]
			switch op {
			case 0:
				d := time.Duration(v%30000) * unit
				now := int64(m.clock / tick)
				due := max(now+1, int64((m.clock+d+tick-1)/tick))
				md := &model{due: due}
				md.tm = m.AfterFunc(d, func() {
					md.count++
					md.fired = m.now
				})
				timers = append(timers, md)
			case 1:
				if len(timers) == 0 {
					continue
				}
				md := timers[v%len(timers)]
				want := !md.stopped && md.count == 0
				if got := md.tm.Stop(); got != want {
					t.Fatalf("Stop() = %v, want %v", got, want)
				}
				md.stopped = true
			case 2:
				m.step(time.Duration(v%2000) * unit)
			}
		}
		m.step(time.Duration(30000)*unit + 2*tick)
		pending := 0
		for i, md := range timers {
			switch {
			case md.count > 1:
				t.Fatalf("timer %d fired %d times", i, md.count)
			case md.stopped && md.count == 1 && md.fired < md.due:
				t.Fatalf("timer %d fired early at tick %d (due %d)", i, md.fired, md.due)
			case !md.stopped && md.count == 0:
				pending++
			case !md.stopped && md.fired != md.due:
				t.Fatalf("timer %d fired at tick %d, due %d", i, md.fired, md.due)
			}
		}
		if pending != 0 {
			t.Fatalf("%d timers never fired", pending)
		}
		if n := m.Pending(); n != 0 {
			t.Fatalf("Pending() = %d at the end", n)
		}
	})
}
