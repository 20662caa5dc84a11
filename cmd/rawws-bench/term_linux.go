package main

import "golang.org/x/sys/unix"

// terminalFD asks the tty driver: only a terminal answers TCGETS (a
// character device such as /dev/null does not).
func terminalFD(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}
