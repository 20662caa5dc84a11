//go:build !race

package pollertest

const raceEnabled = false
