//go:build !race

package rawws

// raceEnabled: see race_on_test.go.
const raceEnabled = false
