package http

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rawws/rawws/http/body"
)

// pushDecode feeds in to the push decoder in pieces of size step.
func pushDecode(in []byte, step int, max int64) (body []byte, consumed int, done bool, err error) {
	var d chunkDecoder
	for consumed < len(in) && !done {
		end := min(consumed+step, len(in))
		n, b, dn, e := d.decode(in[consumed:end], body, max)
		body, consumed, done = b, consumed+n, dn
		if e != nil {
			return body, consumed, false, e
		}
	}
	return body, consumed, done, nil
}

var chunkCorpus = []string{
	"5\r\nhello\r\n0\r\n\r\n",
	"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
	"a;ext=1;y=\"q\"\r\n0123456789\r\n0\r\n\r\n",
	"0\r\nTrailer: v\r\nX-B: w\r\n\r\n",
	"00000000000000000003\r\nabc\r\n0\r\n\r\n",
	"FFFFFFFFFFFFFFFFF\r\n",
	"5\r\nhello\n0\r\n\r\n",
	"5\nhello\r\n0\r\n\r\n",
	"zz\r\n",
	"\r\n",
	"5\r\nhelloXX0\r\n\r\n",
	"0\r\nBad Trailer: v\r\n\r\n",
	"0\r\n: v\r\n\r\n",
	"0\r\nX: a\x01b\r\n\r\n",
	"1 \r\na\r\n0\r\n\r\n",
	"0 0\r\n\r\n",
	"1 ; x\r\na\r\n0\r\n\r\n",
}

func TestChunkDecoder(t *testing.T) {
	for _, in := range chunkCorpus {
		for _, step := range []int{1, 3, len(in)} {
			checkChunked(t, []byte(in), step)
		}
	}
	if _, _, _, err := pushDecode([]byte("10\r\n"+strings.Repeat("x", 16)+"\r\n0\r\n\r\n"), 64, 15); err != errBodyTooLarge {
		t.Fatalf("over the limit: %v", err)
	}
}

// checkChunked compares the push decoder with body.DecodeChunked (written by
// someone else) on the same bytes: same verdict, same body, same end.
// Deliberate difference: none known; an input DecodeChunked needs more
// bytes for is "not done" for us.
func checkChunked(t *testing.T, in []byte, step int) {
	t.Helper()
	got, consumed, done, err := pushDecode(in, step, 1<<30)
	br := bufio.NewReader(bytes.NewReader(in))
	want, werr := io.ReadAll(body.DecodeChunked(br))
	if werr != nil {
		if err == nil && done {
			t.Fatalf("%q: we decode %q, DecodeChunked fails: %v", in, got, werr)
		}
		return
	}
	if err != nil || !done {
		t.Fatalf("%q: we fail (done=%v err=%v), DecodeChunked decodes %q", in, done, err, want)
	}
	if !bytes.Equal(got, want) || consumed != len(in)-br.Buffered() {
		t.Fatalf("%q: we %q (consumed %d), DecodeChunked %q (consumed %d)", in, got, consumed, want, len(in)-br.Buffered())
	}
}

func FuzzChunkedBody(f *testing.F) {
	for _, in := range chunkCorpus {
		f.Add([]byte(in), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		checkChunked(t, in, int(step)+1)
	})
}
