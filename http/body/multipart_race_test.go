//go:build race

package body

// bigPartBytes is the size of the streamed part in TestMultipartHugePartConstantMemory:
// smaller under the race detector, which slows memory copies.
const bigPartBytes = 256 << 20
