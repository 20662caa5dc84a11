package rawws

import (
	"sync"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/bufpool"
)

// pfVariants are a prepared message's compressed forms, one per
// compression level, made on first use and shared like the plain one.
type pfVariants struct {
	mu sync.Mutex
	z  []pfVariant
}

// pfVariant is one level's form; pf nil means the message is not worth
// compressing at that level (it goes out plain).
type pfVariant struct {
	level int
	pf    *PreparedFrame
}

// forSession returns the form of p that s sends: the compressed one when s
// compresses messages without context takeover (the output then depends
// only on the level, so every such session can share it), else p itself.
// A session with context takeover gets p uncompressed (RSV1 clear), which
// RFC 7692 allows and which leaves its compressor's window untouched:
// compressing the message for it would cost one compression per session.
//
// It runs before s.mu is taken and never waits: the compressor is borrowed
// with TryLock on its own lock (a sender of s compressing right now holds
// it); when it is busy this message goes out plain and a later session
// makes the shared form. The fields read without the lock (takeover,
// threshold, window) never change after the handshake.
func (p *PreparedFrame) forSession(s *Session) *PreparedFrame {
	z := s.deflate()
	f := &p.f
	if z == nil || z.comp == nil || s.opts.Compression == nil || z.comp.Takeover() ||
		!f.Fin || f.Rsv1 || (f.Opcode != frame.OpText && f.Opcode != frame.OpBinary) || !z.comp.Worth(len(f.Payload)) {
		return p
	}
	level := s.opts.Compression.Level
	v := &p.variants
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, x := range v.z {
		if x.level == level {
			if x.pf == nil {
				return p
			}
			return x.pf
		}
	}
	if !z.mu.TryLock() {
		return p
	}
	var zp *PreparedFrame
	bp := bufpool.Get(len(f.Payload)/2 + 64)
	out, ok, err := z.comp.Compress((*bp)[:0], f.Payload)
	z.mu.Unlock()
	if err == nil && ok {
		// The variant lives as long as p: p holds its creator reference.
		zp = NewPreparedFrame(frame.Frame{Fin: true, Rsv1: true, Opcode: f.Opcode, Payload: out})
	}
	*bp = out
	bufpool.Put(bp)
	v.z = append(v.z, pfVariant{level: level, pf: zp})
	if zp == nil {
		return p
	}
	return zp
}

// releaseVariants drops p's references on its compressed forms; p is being
// freed, so nobody else touches the list.
func (p *PreparedFrame) releaseVariants() {
	for i, x := range p.variants.z {
		if x.pf != nil {
			x.pf.release()
		}
		p.variants.z[i] = pfVariant{}
	}
	p.variants.z = p.variants.z[:0]
}
