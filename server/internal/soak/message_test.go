package soak

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// The message checker accepts exactly the message sent for a seq, empty
// ones included, and names what is wrong otherwise.
func TestCheckMessage(t *testing.T) {
	const seed, maxSize = 42, 1 << 12
	var empty, full int = -1, -1
	for seq := 0; seq < 200 && (empty < 0 || full < 0); seq++ {
		m := buildMessage(nil, seed, 0, maxSize, 7, seq)
		if len(m) == 0 && empty < 0 {
			empty = seq
		}
		if len(m) >= msgMin && full < 0 {
			full = seq
		}
	}
	if empty < 0 || full < 0 {
		t.Fatalf("200 draws gave no empty (%d) or no full (%d) message", empty, full)
	}
	good := buildMessage(nil, seed, 0, maxSize, 7, full)
	flipped := append([]byte(nil), good...)
	flipped[msgHeader] ^= 1
	other := append([]byte(nil), good...) // conn 8's envelope, valid checksum
	binary.BigEndian.PutUint64(other[8:], 8)
	binary.BigEndian.PutUint32(other[len(other)-msgTrailer:], crc32.Checksum(other[:len(other)-msgTrailer], castagnoli))
	cases := []struct {
		name string
		got  []byte
		seq  int
		want string
	}{
		{"full ok", good, full, ""},
		{"empty ok", nil, empty, ""},
		{"flipped bit", flipped, full, "checksum"},
		{"other conn", other, full, "arrived on conn"},
		{"empty for full", nil, full, "empty message came back"},
		{"full for empty", good, empty, "was sent empty"},
		{"later seq", good, full - 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkMessage(tc.got, nil, seed, 0, maxSize, 7, tc.seq)
			if tc.name == "later seq" {
				if err == nil {
					t.Fatal("a message for another seq was accepted")
				}
				return
			}
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
