// Package grow appends to slices that track one entry per connection.
//
// append grows a large slice by about 1.25× at a time, so filling one to n
// entries allocates about 5n entries in all, 4n of them garbage; with the
// default GOGC that garbage raises the heap goal and the memory a server
// holding many idle connections keeps. Doubling allocates 2n in all.
package grow

// Append appends v to s, doubling the capacity when s is full.
func Append[T any](s []T, v T) []T {
	if len(s) < cap(s) {
		return append(s, v)
	}
	n := make([]T, len(s), max(16, 2*cap(s)))
	copy(n, s)
	return append(n, v)
}
