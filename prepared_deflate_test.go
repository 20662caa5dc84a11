package rawws

import (
	"bytes"
	"context"
	"testing"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/internal/deflate"
)

// deflateSession is a message-mode server session on fc that negotiated
// permessage-deflate with the given context takeover.
func deflateSession(fc *fakeConn, level int, noTakeover bool) *Session {
	c := &Compression{Level: level, ServerNoContextTakeover: noTakeover}
	s := newSession(Options{MessageHandler: MessageFuncs{}, Compression: c})
	s.enableCompression(c, deflate.Params{ServerNoContextTakeover: noTakeover}, "permessage-deflate", true)
	s.setConn(fc)
	fc.SetHandler(s.pollHandler())
	return s
}

// A prepared message is compressed once per level and shared by every
// session compressing without context takeover; sessions with takeover and
// sessions without the extension get the plain frame. Every receiver
// inflates the original bytes.
func TestPreparedCompressedOnce(t *testing.T) {
	ctx := context.Background()
	msg := bytes.Repeat([]byte("the same quote, again and again; "), 64)
	pf := PrepareMessage(frame.OpText, msg)
	type sub struct {
		fc        *fakeConn
		s         *Session
		wantRsv1  bool
		takeover  bool
		compLevel int
	}
	var subs []sub
	for _, tc := range []struct {
		level    int
		deflate  bool
		takeover bool
	}{
		{1, true, false}, {1, true, false}, {9, true, false}, {1, true, true}, {0, false, false},
	} {
		fc := &fakeConn{record: true}
		var s *Session
		if tc.deflate {
			s = deflateSession(fc, tc.level, !tc.takeover)
		} else {
			s = NewRawSession(fc, Options{MessageHandler: MessageFuncs{}})
		}
		subs = append(subs, sub{fc, s, tc.deflate && !tc.takeover, tc.takeover, tc.level})
	}
	for round := 0; round < 2; round++ {
		for _, x := range subs {
			if err := x.s.SendPrepared(ctx, pf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(pf.variants.z); n != 2 {
		t.Fatalf("%d compressed forms, want one per level (2)", n)
	}
	var shared []byte
	for i, x := range subs {
		fs := decodeAll(t, x.fc.output())
		if len(fs) != 2 {
			t.Fatalf("session %d: %d frames", i, len(fs))
		}
		for _, f := range fs {
			if (f.h.Rsv&0x40 != 0) != x.wantRsv1 {
				t.Fatalf("session %d: rsv %#x, want compressed=%v", i, f.h.Rsv, x.wantRsv1)
			}
			got := f.p
			if x.wantRsv1 {
				if i == 0 {
					shared = f.p
				} else if x.compLevel == 1 && !bytes.Equal(f.p, shared) {
					t.Fatalf("session %d: same level, different compressed bytes", i)
				}
				d := deflate.NewDecompressor(deflate.Params{ServerNoContextTakeover: true}, false, 1<<20)
				var err error
				if got, err = d.AppendDecompress(nil, f.p); err != nil {
					t.Fatalf("session %d: inflate: %v", i, err)
				}
				if len(f.p) >= len(msg) {
					t.Fatalf("session %d: %d compressed bytes for %d", i, len(f.p), len(msg))
				}
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("session %d: message differs", i)
			}
		}
	}
	zp := pf.variants.z[0].pf
	pf.Release()
	if pf.buf != nil || zp.buf != nil || zp.refs.Load() != 0 {
		t.Fatal("compressed form outlived the prepared frame")
	}
}
