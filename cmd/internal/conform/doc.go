// Package conform is a clean-room RFC 6455 conformance runner for
// WebSocket echo servers, in the spirit of the Autobahn fuzzing client
// (which cannot run here) but written from the RFC alone.
//
// The runner is an independent peer: it speaks raw TCP with its own
// handshake, masking and frame encoder, so it can send what no library
// would (reserved bits and opcodes, unmasked or fragmented control frames,
// 64-bit lengths with the top bit set, text split inside a character),
// and it shares no code with the library under test.
//
// Every case runs on its own connection; cases run concurrently
// (Options.Parallel). Cases are numbered by section as Autobahn does:
// 1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation,
// 6 UTF-8, 7 close, 9 size and speed, 10 misc and handshake.
//
// The server under test is expected to echo each complete text or binary
// message with its opcode, answer pings with pongs carrying the same
// payload, answer a close with a close (echoing the status code) and then
// close TCP, and fail the connection on bad input: close 1002 for a
// protocol error, 1007 for invalid UTF-8, 1009 for a message over its
// limit (a bare TCP close is accepted too, as RFC 6455 §7.1.7 allows).
//
// Verdicts: OK; NonStrict for the right outcome reached late (invalid
// UTF-8 rejected at message end rather than at the fragment that broke it)
// or loosely; Informational where the RFC leaves the choice open; Failed
// otherwise. Fail-fast on UTF-8 is judged without timing: the runner
// sends the fragment that makes the text invalid followed by a ping, and a
// server that answers that ping has processed the fragment without failing
// the connection.
//
//	rep, err := conform.Run(ctx, "ws://127.0.0.1:9001/", conform.Options{})
//	if err != nil { ... }          // bad URL, no case selected, unreachable
//	if len(rep.Failed()) > 0 { ... }
package conform
