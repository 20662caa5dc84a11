//go:build linux && !race

package epoll

const raceEnabled = false
