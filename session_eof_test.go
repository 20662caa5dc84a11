package rawws

import (
	"errors"
	"io"
	"testing"

	"github.com/rawws/rawws/frame"
)

// A peer whose TCP ends (EOF) inside a frame or a fragmented message did
// not end the session in order: Err wraps io.ErrUnexpectedEOF. EOF between
// frames stays an orderly end (nil).
func TestEOFInsideFrameIsAnError(t *testing.T) {
	whole := encodeFrame(true, frame.OpBinary, []byte("hello"), true)
	first := encodeFrame(false, frame.OpBinary, []byte("hel"), true)
	cases := []struct {
		name    string
		msgMode bool
		in      []byte
		wantErr bool
	}{
		{"raw: between frames", false, whole, false},
		{"raw: inside a frame", false, whole[:len(whole)-2], true},
		{"message: between messages", true, whole, false},
		{"message: inside a frame", true, whole[:len(whole)-2], true},
		{"message: between fragments", true, first, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeConn{}
			opts := Options{Handler: HandlerFuncs{}}
			if tc.msgMode {
				opts = Options{MessageHandler: MessageFuncs{}}
			}
			s := NewRawSession(fc, opts)
			if n := s.OnData(fc, append([]byte(nil), tc.in...)); n != len(tc.in) {
				t.Fatalf("consumed %d of %d", n, len(tc.in))
			}
			s.OnClose(fc, io.EOF)
			err := s.Err()
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != tc.wantErr || (!tc.wantErr && err != nil) {
				t.Fatalf("Err = %v, want unexpected EOF: %v", err, tc.wantErr)
			}
		})
	}
}
