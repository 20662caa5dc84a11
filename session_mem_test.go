package rawws

import (
	"testing"
	"unsafe"
)

// An idle event-mode session is what a server holds per connection while
// nothing happens, so its cost is part of the contract: one allocation of
// at most maxIdleSession bytes, nothing else (no options copy, no Done
// channel, no channel-mode state) until something needs it.
const maxIdleSession = 512 // a Go size class; grow it only knowingly

func TestSessionIdleFootprint(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > maxIdleSession {
		t.Errorf("Session is %d bytes, over the %d budget per idle connection", n, maxIdleSession)
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		allocs float64
	}{
		{"messages", Options{MessageHandler: MessageFuncs{}}, 1},
		{"frames", Options{Handler: HandlerFuncs{}}, 1},
		// Channel mode adds its state: the struct, Incoming (header and
		// buffer) and the kill switch.
		{"channel", Options{}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared := tc.opts.withDefaults()
			var s *Session
			got := testing.AllocsPerRun(100, func() { s = newSessionShared(&shared) })
			if got != tc.allocs {
				t.Errorf("newSessionShared: %v allocations, want %v", got, tc.allocs)
			}
			if s.opts != &shared {
				t.Error("the session copied its endpoint's options")
			}
		})
	}
}

// TestSessionDoneLazy: Done made after the end, before it, or never, is
// closed once the connection is gone, and is the same channel each time.
func TestSessionDoneLazy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before, aft bool
	}{
		{"never asked", false, false},
		{"asked before", true, false},
		{"asked after", false, true},
		{"asked both", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(Options{Handler: HandlerFuncs{}})
			var early <-chan struct{}
			if tc.before {
				early = s.Done()
				select {
				case <-early:
					t.Fatal("Done closed before the end")
				default:
				}
				if s.Done() != early {
					t.Fatal("Done returned another channel")
				}
			}
			s.OnClose(nil, nil)
			if tc.before {
				select {
				case <-early:
				default:
					t.Fatal("early Done not closed by OnClose")
				}
			}
			if tc.aft {
				select {
				case <-s.Done():
				default:
					t.Fatal("Done after the end is not closed")
				}
			}
		})
	}
}
