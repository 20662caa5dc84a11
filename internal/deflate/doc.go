// Package deflate implements the permessage-deflate WebSocket extension
// (RFC 7692) for rawws: the negotiation of both sides and the per-message
// codec, with no I/O and no goroutines. The session layer calls it.
//
// # Negotiation
//
// Accept (server) picks the first acceptable offer of a
// Sec-WebSocket-Extensions request value and formats the answer; a
// malformed or unacceptable offer is skipped, never an error (§5). Offer
// and ParseResponse are the client's side; a response the offer does not
// allow is ErrBadResponse and the client must fail the connection.
//
// Go's DEFLATE writers always search a 32 KiB window. When the peer asks
// for a smaller one (server_max_window_bits on a server,
// client_max_window_bits answered to a client), the compressor honours it
// without a smaller window: it drops context takeover and compresses only
// messages no longer than the window, so no match reaches further back than
// the peer keeps; longer messages go out uncompressed, which §6 allows for
// any message. A server also says server_no_context_takeover then (§7.1.1.1
// lets it) so the client can drop its window too. Inflating works with any
// window the peer uses.
//
// # Codec
//
// A Compressor per connection compresses whole messages: a sync flush with
// its 0x00 0x00 0xff 0xff tail removed (§7.2.1). With context takeover it
// keeps its writer between messages; without, writers come from a pool
// shared by all connections (one per level). Messages under a threshold
// (DefaultThreshold bytes) go out uncompressed, as do, without takeover,
// messages that would not shrink.
//
// A Decompressor per connection takes a message's compressed bytes in any
// pieces (Write), then inflates them (Inflate into an io.Writer,
// AppendInflate into a slice; AppendDecompress for a message already whole)
// with the tail put back (§7.2.2). The output cap applies to the inflated
// size and is checked as the output grows, at most ChunkSize bytes at a
// time, so a decompression bomb is stopped having inflated at most the cap
// plus one chunk (ErrTooBig); the compressed bytes buffered for one message
// are capped too (MaxCompressed: cap + cap/8 + 1 KiB, above any valid
// encoder's output), and a frame limit meant to admit a message of the
// cap should be at least MaxCompressed of it.
// Inflaters (about 40 KiB each) are pooled; with context takeover a
// connection keeps only the last 32 KiB of output as the next message's
// dictionary.
//
// # Memory per connection
//
// Measured by TestMemoryPerConnection (64 connections, each after one
// 16 KiB JSON message, heap after GC; compress/flate, Go 1.26, amd64):
//
//	compressor, no context takeover          99 B   (writers pooled)
//	compressor, context takeover, level 1  1.2 MB   (compress/flate keeps
//	compressor, context takeover, level 6  0.8 MB    its hash tables and
//	compressor, takeover, Huffman-only     0.7 MB    a 64 KiB window)
//	decompressor, no context takeover     114 B    (inflaters pooled)
//	decompressor, context takeover         33 KB   (the 32 KiB window)
//
// While a message is being handled a connection also borrows a pooled
// writer (the sizes above) or inflater (~40 KiB) plus the compressed bytes
// of a message arriving in pieces. Server context takeover is therefore the
// expensive choice: at 10,000 connections it is ~12 GB at level 1, where
// server_no_context_takeover costs ~1 MB in total plus the pools. Client
// context takeover costs the server 32 KiB per connection.
//
// The DEFLATE implementation is named in one file (impl.go); see
// bench/deflate and bench/RESULTS.md for compress/flate against
// github.com/klauspost/compress/flate.
package deflate
