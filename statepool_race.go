//go:build race

package rawws

import "sync"

// statePool is, under the race detector, a plain free list: the detector
// makes sync.Pool drop a quarter of what it is given, which would turn the
// allocation checks of the per-message path (run with -race in CI) into
// noise. The hand-offs through it are still seen by the detector.
type statePool[T any] struct {
	mu   sync.Mutex
	free []*T
}

// statePoolKeep bounds the free list.
const statePoolKeep = 1 << 12

func (p *statePool[T]) get() *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		x := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return x
	}
	return new(T)
}

func (p *statePool[T]) put(x *T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < statePoolKeep {
		p.free = append(p.free, x)
	}
}
