//go:build !race

package http

// bdBigPartBytes is the size of the streamed part in TestMultipartHugePartConstantMemory.
const bdBigPartBytes = 1 << 30
