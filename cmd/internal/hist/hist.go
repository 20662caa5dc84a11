// Package hist is a concurrent latency histogram with log-linear buckets:
// constant memory, lock-free recording, and quantiles within 1/64 (about
// 1.6%) of the true value, which is what a benchmark report needs.
package hist

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// sub is the number of linear sub-buckets per power of two; 64 bounds the
// relative error of a reported quantile by 1/64.
const (
	subBits = 6
	sub     = 1 << subBits
	// Values are nanoseconds; 40 powers of two reach about 18 minutes.
	groups  = 40
	buckets = groups * sub
)

// Histogram records durations. The zero value is ready; Record is safe for
// concurrent use.
type Histogram struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

func index(ns uint64) int {
	if ns < sub {
		return int(ns)
	}
	// Position of the top bit decides the group; the next subBits bits the
	// linear slot inside it.
	top := bits.Len64(ns) - 1
	g := top - subBits + 1
	if g >= groups {
		return buckets - 1
	}
	return g*sub + int((ns>>(top-subBits))&(sub-1))
}

// lower returns the smallest value that falls into bucket i.
func lower(i int) uint64 {
	g, s := i/sub, uint64(i%sub)
	if g == 0 {
		return s
	}
	return (sub + s) << (g - 1)
}

// Record adds one observation; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	ns := uint64(0)
	if d > 0 {
		ns = uint64(d)
	}
	h.counts[index(ns)].Add(1)
	h.n.Add(1)
	h.sum.Add(ns)
	for {
		m := h.max.Load()
		if int64(ns) <= m || h.max.CompareAndSwap(m, int64(ns)) {
			break
		}
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average observation, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value below which a fraction q (0..1) of the
// observations fall: the middle of the bucket holding it, capped by Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	if q < 0 {
		q = 0
	}
	rank := uint64(q * float64(n))
	if rank >= n {
		rank = n - 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen > rank {
			lo := lower(i)
			hi := lo
			if i+1 < buckets {
				hi = lower(i + 1)
			}
			v := time.Duration(lo + (hi-lo)/2)
			if m := h.Max(); v > m {
				v = m
			}
			return v
		}
	}
	return h.Max()
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			break
		}
	}
}

// Reset forgets every observation. Not atomic with concurrent Records.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
}
