//go:build race

package bufpool

// raceEnabled: sync.Pool drops a quarter of its Puts under the race
// detector, and the detector's instrumentation allocates, so reuse and
// allocation counts are not checked then.
const raceEnabled = true
