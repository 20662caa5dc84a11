// Package mask benchmarks rawws.Mask against the masking code of other Go
// WebSocket libraries at the same sizes and alignments, beside copy() of the
// same bytes, for benchstat:
//
//	cd bench
//	go test -run '^$' -bench . -benchtime 200ms -count 6 ./mask > mask.txt
//	go run golang.org/x/perf/cmd/benchstat -col /lib mask.txt
//
// gobwas/ws exports its routine (ws.Cipher). gorilla/websocket, lxzan/gws (in
// an internal package), lesismal/nbio and coder/websocket do not, so the
// benchmarks reach their unexported functions with //go:linkname. Nothing is
// reimplemented: each library's own compiled function runs. Go 1.23's
// linker restriction on pulling symbols by linkname covers only the standard
// library, so no -ldflags=-checklinkname=0 is needed; if a later Go extends it,
// add that flag. TestSameResult checks every routine masks as RFC 6455 says.
package mask
