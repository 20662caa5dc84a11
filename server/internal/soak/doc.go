// Package soak is the reliability harness: an in-process echo server on any
// poller backend behind net/http or the module's own HTTP server
// (StartEcho), a raw WebSocket client that writes exactly the frames it is
// told to, fragments and broken ones included (RawClient), a soak runner
// that checks every message comes back exactly once, in order and
// unaltered (Run), and a goroutine and file-descriptor leak check for tests
// (CheckLeaks).
//
// Its tests are the soak (short in `go test ./...`, long with -soak.long:
// `make soak`), fault injection (resets and EOF mid-frame, half-close after
// Close, vanished clients, writes to closed peers, shutdown under load) and
// every limit one over, each with another connection that must keep
// working, and the loss mix (TestLossMix): large HTTP responses to slow
// readers beside channel-mode sessions whose handler returns right after
// sending, every byte and frame counted at both ends.
//
// It lives under server/ because its tests drive the whole composition
// (server, the root package, http and poller), and all of it is in
// _test.go files, so the harness exists only for this package's tests and
// no library package links it.
package soak
