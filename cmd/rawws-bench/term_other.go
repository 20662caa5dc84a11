//go:build !linux

package main

// terminalFD is false off Linux: plain progress lines are always safe, a
// redrawn line is only nicer.
func terminalFD(uintptr) bool { return false }
