// Package bufpool is the one byte-buffer pool of the library: the session
// writer and reader in the root package and the epoll loop's carry and
// output queue take their buffers here, so a buffer freed by one is reused
// by the other instead of each keeping its own idle set.
//
// Buffers come in power-of-two size classes from MinSize to MaxSize, each
// class a sync.Pool of *[]byte. The pointer, not the slice, is what goes
// in and out of the pool: putting a slice in an interface would allocate
// its header on every Put, and the hot path must not allocate.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minShift = 6
	maxShift = 20

	// MinSize is the smallest class: a request for fewer bytes gets a
	// buffer of MinSize. 64 B holds a control frame or a few unconsumed
	// bytes without paying for a larger class.
	MinSize = 1 << minShift
	// MaxSize is the largest class. A request for more is allocated with
	// exactly the capacity asked for and is left to the garbage collector
	// when it comes back: holding idle megabyte buffers would cost more
	// than allocating the rare one.
	MaxSize = 1 << maxShift
)

var pools [maxShift - minShift + 1]sync.Pool

// class returns the index of the smallest class holding n bytes, or -1
// when n is above MaxSize. It is a bit count, not a loop over the classes.
func class(n int) int {
	if n <= MinSize {
		return 0
	}
	s := bits.Len(uint(n - 1))
	if s > maxShift {
		return -1
	}
	return s - minShift
}

// Get returns a buffer of length 0 and capacity at least n: exactly the
// class size when n is at most MaxSize, else exactly n. Append to it, or
// slice it up to n with (*bp)[:n]. The caller owns it until it hands the
// pointer to Put; it does not allocate when the class has a free buffer.
func Get(n int) *[]byte {
	i := class(n)
	if i < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if v := pools[i].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, 1<<(minShift+i))
	return &b
}

// Put gives a buffer back for reuse; the caller must not touch *bp (or any
// slice of it) afterwards. *bp may have been replaced by a slice that
// append grew from it: a buffer is kept when its capacity is exactly a
// class size and dropped otherwise (oversized, odd-sized after a regrow,
// or nil), so Put accepts whatever the caller ends up holding.
func Put(bp *[]byte) {
	if bp == nil {
		return
	}
	c := cap(*bp)
	if c < MinSize || c > MaxSize || c&(c-1) != 0 {
		return
	}
	*bp = (*bp)[:0]
	pools[bits.Len(uint(c))-1-minShift].Put(bp)
}
