// Package broadcast measures fan-out: one message sent to every one of N
// WebSocket sessions, by rawws (Hub.Publish: encoded once, shared by every
// session's queue), gorilla/websocket (PreparedMessage, written to each
// connection in a loop, as its docs suggest) and lxzan/gws (Broadcaster,
// queued on each connection's write queue), in the same run and against
// the same clients.
//
// The clients live in a child process (this test binary re-run with
// BCAST_CHILD set), so server and clients each stay under the 20,000
// descriptors a process may open: N up to 19,000 works. The child runs
// the N connections on one rawws epoll engine, counts bytes per
// connection and prints a line when a message's last byte has reached
// all N; the parent times from the publish call to that line.
//
//	cd bench
//	go test -run '^$' -bench . -benchtime 20x ./broadcast
//	BCAST_N=1000,10000,19000 go test -run '^$' -bench Latency -benchtime 10x ./broadcast
//
// BenchmarkLatency: ns/op is the time for one message to reach all N
// (64 B and 4 KiB payloads). BenchmarkThroughput: messages/s sustained to
// 1,000 subscribers with up to 8 messages in flight (the publisher waits
// when message i-8 has not reached everyone). Numbers are in
// bench/RESULTS.md, section Broadcast.
package broadcast
