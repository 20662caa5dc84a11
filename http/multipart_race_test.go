//go:build race

package http

// bdBigPartBytes is the size of the streamed part in TestMultipartHugePartConstantMemory:
// smaller under the race detector, which slows memory copies.
const bdBigPartBytes = 256 << 20
