//go:build linux && race

package epoll

// raceEnabled shrinks the volume tests: the race detector slows every
// instrumented byte loop by an order of magnitude.
const raceEnabled = true
