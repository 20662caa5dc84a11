// Package conformance runs the RFC 6455 suite of cmd/rawws-conform against
// the peer echo servers under bench/cmd (gorilla, gws, nbio, gobwas), each
// in its own process so that a peer that panics takes down only itself.
// The suite's code is internal to the main module (cmd/internal/conform),
// so this module builds the rawws-conform command and reads its -list and
// -json output, as any user of the command would.
// `go test ./conformance -update` rewrites ../CONFORMANCE.md from the run.
package conformance
