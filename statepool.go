package rawws

import "sync"

// statePool keeps per-operation state (a session's readState and
// writeState, a broadcast's fanout) between uses, so an idle session holds
// none of it and a busy one allocates none.
type statePool[T any] struct{ p sync.Pool }

func (p *statePool[T]) get() *T {
	if v := p.p.Get(); v != nil {
		return v.(*T)
	}
	return new(T)
}

func (p *statePool[T]) put(x *T) { p.p.Put(x) }
