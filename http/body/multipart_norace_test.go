//go:build !race

package body

// bigPartBytes is the size of the streamed part in TestMultipartHugePartConstantMemory.
const bigPartBytes = 1 << 30
