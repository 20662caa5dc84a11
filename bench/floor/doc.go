// Package floor holds the reference floors: minimal WebSocket echo servers
// in C (src/epoll.c, src/uring.c, sharing src/ws.c) that do no more than the protocol
// requires, so bench/cmd/compare can put every server's cost per message
// next to what the kernel and the protocol alone cost. build.sh builds
// them; floor_test.go checks that they are correct echo servers, since a
// floor that cuts corners would flatter itself.
//
// There is no Go code here besides the test.
package floor
