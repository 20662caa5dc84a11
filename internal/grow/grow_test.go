package grow

import "testing"

// TestAppendDoubles: every entry arrives in order, and filling a slice
// allocates at most about twice its final size (append's own growth
// allocates about five times for large slices).
func TestAppendDoubles(t *testing.T) {
	const n = 100_000
	var s []int
	allocated := 0
	for i := range n {
		if len(s) == cap(s) {
			s = Append(s, i)
			allocated += cap(s)
			continue
		}
		s = Append(s, i)
	}
	for i, v := range s {
		if v != i {
			t.Fatalf("s[%d] = %d", i, v)
		}
	}
	if allocated > 2*cap(s) || cap(s) > 2*n {
		t.Errorf("allocated %d entries for %d (final capacity %d), want at most twice the final capacity", allocated, n, cap(s))
	}
}
