// Package conformance runs the RFC 6455 suite of internal/conform against
// the peer echo servers under bench/cmd (gorilla, gws, nbio, gobwas), each
// in its own process so that a peer that panics takes down only itself.
// `go test ./conformance -update` rewrites ../CONFORMANCE.md from the run.
package conformance
