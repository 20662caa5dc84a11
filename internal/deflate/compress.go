package deflate

import (
	"errors"
	"sync"
)

// syncTail is what a sync flush ends with and what RFC 7692 §7.2.1 has the
// sender remove (and the receiver put back, §7.2.2).
var syncTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// ErrInternal reports a compressor that did not end its output with a sync
// flush; it means a bug in the DEFLATE implementation, not bad input.
var ErrInternal = errors.New("deflate: compressor output lacks the sync flush tail")

// writerPools hold idle writers per level (index level+2: -2..9), shared by
// every connection: a connection without context takeover holds a writer
// only inside Compress.
var writerPools [12]sync.Pool

// appender is the io.Writer the DEFLATE writer emits into.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// Compressor compresses the outgoing messages of one connection. It is not
// safe for concurrent use: a session calls it from the one goroutine that
// frames its outgoing messages, in the order they go on the wire (with
// context takeover the peer inflates them in that order).
type Compressor struct {
	level     int
	threshold int
	takeover  bool
	maxLen    int         // longest message the window allows to compress; -1 for any
	fw        flateWriter // held between messages only with context takeover
	out       appender
}

// NewCompressor returns the compressor for the messages this endpoint sends
// under the negotiated p: a server's follows the server_* parameters, a
// client's the client_* ones (and its own Settings, which its offer
// promised). Nothing is allocated until the first compressed message.
func NewCompressor(s Settings, p Params, server bool) *Compressor {
	c := &Compressor{level: s.level(), threshold: s.threshold(), maxLen: -1}
	noTakeover, bits := p.ClientNoContextTakeover || s.ClientNoContextTakeover, p.ClientMaxWindowBits
	if server {
		noTakeover, bits = p.ServerNoContextTakeover || s.ServerNoContextTakeover, p.ServerMaxWindowBits
	} else if b := s.ClientMaxWindowBits; b >= MinWindowBits && b < MaxWindowBits && (bits <= 0 || b < bits) {
		bits = b
	}
	if bits >= MinWindowBits && bits < MaxWindowBits && c.level != huffmanOnly {
		// The implementation always searches a 32 KiB window. Without
		// context takeover a match cannot reach before the message's first
		// byte, so a message no longer than the window never refers
		// further back than the peer keeps (RFC 7692 §7.1.2).
		noTakeover, c.maxLen = true, 1<<bits
	}
	c.takeover = !noTakeover
	return c
}

// Takeover reports whether the compressor keeps its LZ77 window between
// messages.
func (c *Compressor) Takeover() bool { return c.takeover }

// Worth reports whether a message of n bytes would be compressed (at or
// above the threshold and within the negotiated window); Compress answers
// the same and may still decline a message that does not shrink.
func (c *Compressor) Worth(n int) bool {
	return n >= c.threshold && (c.maxLen < 0 || n <= c.maxLen)
}

// Compress appends msg compressed to dst for a message with RSV1 set: a
// DEFLATE sync-flushed piece without its trailing 0x00 0x00 0xff 0xff (RFC
// 7692 §7.2.1). When compressed is false, msg goes out uncompressed (RSV1
// clear) and dst comes back unchanged: msg is below the threshold, longer
// than a negotiated small window allows, or, without context takeover, did
// not get smaller. With context takeover every message passed in here is
// part of the stream and must be sent, in order. msg is only read.
func (c *Compressor) Compress(dst, msg []byte) (out []byte, compressed bool, err error) {
	if !c.Worth(len(msg)) {
		return dst, false, nil
	}
	fw := c.fw
	if fw == nil {
		if fw, err = c.writer(); err != nil {
			return dst, false, err
		}
	}
	start := len(dst)
	c.out.b = dst
	_, err = fw.Write(msg)
	if err == nil {
		err = fw.Flush()
	}
	out, c.out.b = c.out.b, nil
	if c.takeover {
		c.fw = fw
	} else {
		// Not reset here: writer() resets on the way out, and one reset
		// (which clears the hash tables) per message is enough.
		writerPools[c.level+2].Put(fw)
	}
	if err != nil {
		return dst, false, err
	}
	end := len(out) - len(syncTail)
	if end < start || [4]byte(out[end:]) != syncTail {
		return dst, false, ErrInternal
	}
	out = out[:end]
	if !c.takeover && end-start >= len(msg) {
		return dst, false, nil
	}
	return out, true, nil
}

// writer takes a reset writer at c's level from the pool, or makes one.
func (c *Compressor) writer() (flateWriter, error) {
	if fw, ok := writerPools[c.level+2].Get().(flateWriter); ok {
		fw.Reset(&c.out)
		return fw, nil
	}
	return newFlateWriter(&c.out, c.level)
}

// Release gives back the writer a context-takeover compressor holds; the
// compressor must not be used afterwards. Safe to call more than once.
func (c *Compressor) Release() {
	if c.fw != nil {
		writerPools[c.level+2].Put(c.fw)
		c.fw = nil
	}
}
