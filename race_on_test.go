//go:build race

package rawws

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts of pooled paths are asserted only without it; make
// test runs every Alloc test a second time without -race.
const raceEnabled = true
