//go:build linux

package epoll

import "sync"

// Size classes for the carry (unconsumed input) and output-queue chunks:
// powers of two from 256 B to 64 KiB. Small classes keep a connection that
// holds a few unconsumed bytes cheap; larger buffers are allocated exactly
// and left to the garbage collector.
const (
	minClassShift = 8
	maxClassShift = 16
	maxClass      = 1 << maxClassShift
)

var classPools [maxClassShift - minClassShift + 1]sync.Pool

// classOf returns the pool index whose buffers hold at least n bytes, or -1
// when n is above the largest class.
func classOf(n int) int {
	for i := range classPools {
		if n <= 1<<(minClassShift+i) {
			return i
		}
	}
	return -1
}

// getBuf returns a buffer of length 0 and capacity at least n. The pointer
// is what putBuf takes back.
func getBuf(n int) *[]byte {
	i := classOf(n)
	if i < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if v := classPools[i].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, 1<<(minClassShift+i))
	return &b
}

// putBuf recycles a buffer from getBuf. Buffers whose capacity is not
// exactly a class (oversized ones) are dropped.
func putBuf(bp *[]byte) {
	c := cap(*bp)
	i := classOf(c)
	if i < 0 || c != 1<<(minClassShift+i) {
		return
	}
	*bp = (*bp)[:0]
	classPools[i].Put(bp)
}
