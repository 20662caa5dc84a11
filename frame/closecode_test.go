package frame

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCloseCodeValidOnWire(t *testing.T) {
	// The rule of RFC 6455 §7.4 and the IANA registry, spelled as ranges of
	// what may be sent; everything else must be refused.
	sendable := map[CloseCode]bool{
		CloseNormal: true, CloseGoingAway: true, CloseProtocolError: true, CloseUnsupportedData: true,
		CloseInvalidPayload: true, ClosePolicyViolation: true, CloseTooBig: true,
		CloseMandatoryExtension: true, CloseInternalError: true, CloseServiceRestart: true,
		CloseTryAgainLater: true, CloseBadGateway: true,
	}
	for c := CloseCode(0); c <= 5000; c++ {
		want := sendable[c] || (c >= 3000 && c <= 4999)
		if got := c.ValidOnWire(); got != want {
			t.Errorf("CloseCode(%d).ValidOnWire() = %v, want %v", c, got, want)
		}
		s := c.String()
		if s == "" || len(s) > MaxCloseText {
			t.Errorf("CloseCode(%d).String() = %q", c, s)
		}
	}
	for _, c := range []CloseCode{1004, CloseNoStatus, CloseAbnormal, CloseTLSHandshake, 1016, 2999, 5000, 65535} {
		if c.ValidOnWire() {
			t.Errorf("%d must not be valid on the wire", c)
		}
	}
}

func TestCloseCodeString(t *testing.T) {
	for c, want := range map[CloseCode]string{
		CloseNormal: "normal closure", CloseTooBig: "message too big", CloseBadGateway: "bad gateway",
		CloseNoStatus: "no status received", 1004: "reserved(1004)", 1016: "unassigned(1016)",
		3001: "registered(3001)", 4000: "private(4000)", 999: "invalid(999)", 5000: "invalid(5000)",
	} {
		if got := c.String(); got != want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", c, got, want)
		}
	}
	// Every named constant has a name, not a number.
	for c := CloseNormal; c <= CloseTLSHandshake; c++ {
		if c != 1004 && strings.ContainsAny(c.String(), "0123456789") {
			t.Errorf("CloseCode(%d) has no name: %q", c, c.String())
		}
	}
}

func TestCloseReasonRoundTrip(t *testing.T) {
	for _, r := range []CloseReason{
		{Code: CloseNormal},
		{Code: CloseGoingAway, Text: "server shutting down"},
		{Code: CloseTooBig, Text: "frame too big"},
		{Code: 3000, Text: "registered"},
		{Code: 4999, Text: strings.Repeat("é", MaxCloseText/2) + "x"},
		{Code: CloseInternalError, Text: strings.Repeat("a", MaxCloseText)},
		{Code: CloseNormal, Text: "日本語 🌍"},
	} {
		p, err := AppendCloseReason([]byte{0xaa}, r)
		if err != nil {
			t.Fatalf("AppendCloseReason(%+v): %v", r, err)
		}
		if p[0] != 0xaa || len(p) != 3+len(r.Text) || len(p)-1 > MaxControlPayload {
			t.Fatalf("AppendCloseReason(%+v) = % x", r, p)
		}
		got, err := ParseCloseReason(p[1:])
		if err != nil || got != r {
			t.Fatalf("ParseCloseReason(% x) = %+v, %v; want %+v", p[1:], got, err, r)
		}
	}
	// No status: nothing on the wire, and an empty payload reads back as
	// CloseNoStatus, which can be echoed as it is.
	for _, r := range []CloseReason{{}, {Code: CloseNoStatus}} {
		p, err := AppendCloseReason(nil, r)
		if err != nil || len(p) != 0 {
			t.Fatalf("AppendCloseReason(%+v) = % x, %v", r, p, err)
		}
	}
	if got, err := ParseCloseReason(nil); err != nil || got != (CloseReason{Code: CloseNoStatus}) {
		t.Fatalf("ParseCloseReason(empty) = %+v, %v", got, err)
	}
	// The text does not alias the payload.
	p := []byte{0x03, 0xe8, 'o', 'k'}
	r, _ := ParseCloseReason(p)
	p[2] = 'X'
	if r.Text != "ok" {
		t.Fatalf("ParseCloseReason retained its input: %q", r.Text)
	}
	// The wire form is big-endian.
	if p, _ := AppendCloseReason(nil, CloseReason{Code: 1002, Text: "x"}); !bytes.Equal(p, []byte{0x03, 0xea, 'x'}) {
		t.Fatalf("AppendCloseReason = % x", p)
	}
}

func TestAppendCloseReasonErrors(t *testing.T) {
	for _, r := range []CloseReason{
		{Code: CloseNoStatus, Text: "x"},
		{Code: CloseAbnormal},
		{Code: CloseTLSHandshake},
		{Code: 1004},
		{Code: 999},
		{Code: 2000},
		{Code: 5000},
		{Text: "text without a code"},
		{Code: CloseNormal, Text: strings.Repeat("a", MaxCloseText+1)},
		{Code: CloseNormal, Text: strings.Repeat("é", 62)}, // 124 bytes
		{Code: CloseNormal, Text: "bad \xff utf8"},
		{Code: CloseNormal, Text: "\xed\xa0\x80"}, // surrogate
	} {
		dst := []byte{1, 2}
		got, err := AppendCloseReason(dst, r)
		if !errors.Is(err, ErrInvalidCloseReason) {
			t.Errorf("AppendCloseReason(%+v) error %v, want ErrInvalidCloseReason", r, err)
		}
		if !bytes.Equal(got, []byte{1, 2}) {
			t.Errorf("AppendCloseReason(%+v) changed dst: % x", r, got)
		}
	}
}

func TestParseCloseReasonErrors(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		code CloseCode
	}{
		{[]byte{0x03}, CloseProtocolError},
		{[]byte{0x03, 0xed}, CloseProtocolError},             // 1005
		{[]byte{0x03, 0xee}, CloseProtocolError},             // 1006
		{[]byte{0x03, 0xf7}, CloseProtocolError},             // 1015
		{[]byte{0x03, 0xec}, CloseProtocolError},             // 1004
		{[]byte{0x00, 0x00}, CloseProtocolError},             // 0
		{[]byte{0x03, 0xe7}, CloseProtocolError},             // 999
		{[]byte{0x13, 0x88}, CloseProtocolError},             // 5000
		{[]byte{0x03, 0xe8, 0xff}, CloseInvalidPayload},      // bad UTF-8
		{[]byte{0x03, 0xe8, 'a', 0xc3}, CloseInvalidPayload}, // cut short
		{append([]byte{0x03, 0xe8}, bytes.Repeat([]byte{'a'}, 124)...), CloseProtocolError},
	} {
		r, err := ParseCloseReason(tc.p)
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("ParseCloseReason(% x) = %+v, %v; want code %d", tc.p, r, err, tc.code)
		}
	}
}

func FuzzCloseReason(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xe8})
	f.Add([]byte{0x03, 0xe9, 'b', 'y', 'e'})
	f.Add([]byte{0x0f, 0xa0, 0xe2, 0x82, 0xac})
	f.Add([]byte{0x03, 0xed})
	f.Add([]byte{0x03, 0xe8, 0xed, 0xa0, 0x80})
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := ParseCloseReason(p)
		var wantCode CloseCode
		switch {
		case len(p) == 0:
		case len(p) == 1 || len(p) > MaxControlPayload:
			wantCode = CloseProtocolError
		case !(CloseCode(p[0])<<8 | CloseCode(p[1])).ValidOnWire():
			wantCode = CloseProtocolError
		case !utf8.Valid(p[2:]):
			wantCode = CloseInvalidPayload
		}
		if wantCode != 0 {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != wantCode {
				t.Fatalf("ParseCloseReason(% x) = %+v, %v; want code %d", p, r, err, wantCode)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseCloseReason(% x): %v", p, err)
		}
		// Whatever parses re-encodes to the same bytes.
		q, err := AppendCloseReason(nil, r)
		if err != nil || !bytes.Equal(q, p) {
			t.Fatalf("ParseCloseReason(% x) = %+v re-encodes to % x, %v", p, r, q, err)
		}
	})
}
