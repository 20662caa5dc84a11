//go:build race

package pollertest

// raceEnabled trims the many-connections test: the race detector allows at
// most 8128 live goroutines and the std backend runs one per connection.
const raceEnabled = true
