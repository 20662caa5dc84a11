// Package netfd tells whether a connection or listener can be watched by
// an event loop, for the layers that must fall back to the goroutine
// backend when it cannot (the root's UpgradeHTTP, the server's Serve and
// ServeConn).
package netfd

import "syscall"

// Has reports whether v exposes a descriptor (net.TCPListener and
// net.TCPConn do, tls.NewListener and *tls.Conn do not).
func Has(v any) bool {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return false
	}
	_, err := sc.SyscallConn()
	return err == nil
}
