package frame

import (
	"bytes"
	"testing"
)

func TestPutHeaderRFCExamples(t *testing.T) {
	for _, tc := range rfcExamples {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, MaxHeaderSize)
			n := PutHeader(dst, tc.want)
			if !bytes.Equal(dst[:n], tc.wire[:tc.hdrLen]) {
				t.Fatalf("PutHeader = % x, want % x", dst[:n], tc.wire[:tc.hdrLen])
			}
			if got := AppendHeader([]byte{0xee}, tc.want); !bytes.Equal(got, append([]byte{0xee}, tc.wire[:tc.hdrLen]...)) {
				t.Fatalf("AppendHeader = % x", got)
			}
		})
	}
}

func TestPutHeaderForms(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, tc := range []struct {
		h    Header
		want []byte
	}{
		{Header{Opcode: OpBinary, Length: 125}, []byte{0x02, 0x7d}},
		{Header{Fin: true, Opcode: OpBinary, Length: 126}, []byte{0x82, 0x7e, 0x00, 0x7e}},
		{Header{Fin: true, Opcode: OpBinary, Length: 0xffff}, []byte{0x82, 0x7e, 0xff, 0xff}},
		{Header{Fin: true, Opcode: OpBinary, Length: 0x10000}, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}},
		{Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}, []byte{0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{Header{Fin: true, Opcode: OpText, Masked: true, Key: key}, []byte{0x81, 0x80, 1, 2, 3, 4}},
		{Header{Opcode: OpText, Masked: true, Key: key, Length: 300}, []byte{0x01, 0xfe, 0x01, 0x2c, 1, 2, 3, 4}},
		{Header{Rsv: 0x40, Opcode: OpText, Masked: true, Key: key, Length: 1 << 32}, []byte{0x41, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}},
		// Bits outside the fields are dropped rather than corrupting others.
		{Header{Fin: true, Rsv: 0xff, Opcode: 0xf1}, []byte{0xf1, 0x00}},
	} {
		dst := bytes.Repeat([]byte{0xcc}, MaxHeaderSize+1)
		n := PutHeader(dst, tc.h)
		if !bytes.Equal(dst[:n], tc.want) || n != HeaderSize(tc.h) {
			t.Errorf("PutHeader(%+v) = % x (HeaderSize %d), want % x", tc.h, dst[:n], HeaderSize(tc.h), tc.want)
		}
		for _, c := range dst[n:] {
			if c != 0xcc {
				t.Errorf("PutHeader(%+v) wrote past the header: % x", tc.h, dst)
				break
			}
		}
	}
}

func TestPutHeaderShortDst(t *testing.T) {
	// A destination just long enough for the header is enough.
	h := Header{Fin: true, Opcode: OpBinary, Length: 300, Masked: true}
	PutHeader(make([]byte, 8), h)
	defer func() {
		if recover() == nil {
			t.Fatal("PutHeader into a too short buffer did not panic")
		}
	}()
	PutHeader(make([]byte, 7), h)
}

func TestPutHeaderNegativeLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PutHeader with a negative length did not panic")
		}
	}()
	PutHeader(make([]byte, MaxHeaderSize), Header{Length: -1})
}

func TestEncodeAllocs(t *testing.T) {
	dst := make([]byte, MaxHeaderSize)
	buf := make([]byte, 0, 64)
	hs := []Header{
		{Fin: true, Opcode: OpText, Length: 5},
		{Fin: true, Opcode: OpText, Length: 5, Masked: true},
		{Fin: true, Opcode: OpBinary, Length: 1000},
		{Fin: true, Opcode: OpBinary, Length: 1000, Masked: true},
		{Fin: true, Opcode: OpBinary, Length: 1 << 20},
		{Fin: true, Opcode: OpBinary, Length: 1 << 20, Masked: true},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, h := range hs {
			PutHeader(dst, h)
			buf = AppendHeader(buf[:0], h)
		}
	})
	if allocs != 0 {
		t.Fatalf("PutHeader/AppendHeader allocate %v times per run", allocs)
	}
}
