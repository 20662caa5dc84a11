// Package deflate measures the two DEFLATE implementations rawws could use
// for permessage-deflate (RFC 7692), Go's compress/flate and
// github.com/klauspost/compress/flate, under the same code and the same
// payloads in one run: compression and decompression of JSON-like and
// English-like text at 1 KiB and 64 KiB, with and without context takeover,
// plus what a context-takeover connection holds between messages:
//
//	cd bench
//	go test -run '^$' -bench . -benchtime 200ms -count 6 ./deflate > deflate.txt
//	go run golang.org/x/perf/cmd/benchstat -col /lib deflate.txt
//	go test -run Memory -v ./deflate
//
// The codec code below mirrors rawws/internal/deflate (sync flush, tail
// stripped; inflate with the tail put back and the previous 32 KiB as
// dictionary) so only the implementation differs. The choice and the
// numbers are in bench/RESULTS.md.
package deflate
