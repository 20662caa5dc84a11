// Package mask benchmarks rawws.Mask against the masking code of other Go
// WebSocket libraries, at the same sizes and alignments, for benchstat:
//
//	cd bench
//	go test -run '^$' -bench . -benchtime 200ms -count 6 -ldflags=-checklinkname=0 ./mask > new.txt
//	go run golang.org/x/perf/cmd/benchstat -col /lib new.txt
//
// gobwas/ws exports its routine (ws.Cipher). gorilla/websocket, lxzan/gws
// (an internal package), lesismal/nbio and coder/websocket do not, so the
// benchmarks reach their unexported functions with //go:linkname, which
// Go 1.23 and later let through only with -ldflags=-checklinkname=0. Nothing
// is reimplemented: each peer's own compiled function is what runs.
package mask
