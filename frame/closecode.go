package frame

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// CloseCode is the status code of a Close frame (RFC 6455 §7.4).
type CloseCode uint16

// The codes RFC 6455 §7.4.1 defines and those IANA registered since
// (https://www.iana.org/assignments/websocket). 1004 is reserved and has no
// name; 1005, 1006 and 1015 only report what happened locally and must never
// be sent.
const (
	CloseNormal             CloseCode = 1000 // the purpose of the connection is fulfilled
	CloseGoingAway          CloseCode = 1001 // server shutting down or browser leaving the page
	CloseProtocolError      CloseCode = 1002 // the peer broke the protocol
	CloseUnsupportedData    CloseCode = 1003 // a data type the endpoint cannot accept
	CloseNoStatus           CloseCode = 1005 // never on the wire: the Close frame had no code
	CloseAbnormal           CloseCode = 1006 // never on the wire: closed without a Close frame
	CloseInvalidPayload     CloseCode = 1007 // data inconsistent with its type (e.g. bad UTF-8 in text)
	ClosePolicyViolation    CloseCode = 1008 // a message violating the endpoint's policy
	CloseTooBig             CloseCode = 1009 // a message or frame too big to process
	CloseMandatoryExtension CloseCode = 1010 // client: the server did not negotiate a required extension
	CloseInternalError      CloseCode = 1011 // server: an unexpected condition
	CloseServiceRestart     CloseCode = 1012 // server restarting (IANA)
	CloseTryAgainLater      CloseCode = 1013 // server overloaded, try later (IANA)
	CloseBadGateway         CloseCode = 1014 // gateway got an invalid upstream response (IANA)
	CloseTLSHandshake       CloseCode = 1015 // never on the wire: the TLS handshake failed
)

// ValidOnWire reports whether c may appear in a Close frame: the defined
// codes 1000-1003 and 1007-1014, and 3000-4999 (registered libraries and
// frameworks, and private use). Everything else, including 1005, 1006, 1015
// and the unassigned rest of 1000-2999, is a protocol error when received.
func (c CloseCode) ValidOnWire() bool {
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
}

// String returns the code's registered name, or a description of its range
// with the number ("private(4000)", "invalid(999)").
func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "going away"
	case CloseProtocolError:
		return "protocol error"
	case CloseUnsupportedData:
		return "unsupported data"
	case 1004:
		return "reserved(1004)"
	case CloseNoStatus:
		return "no status received"
	case CloseAbnormal:
		return "abnormal closure"
	case CloseInvalidPayload:
		return "invalid payload data"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseTooBig:
		return "message too big"
	case CloseMandatoryExtension:
		return "mandatory extension"
	case CloseInternalError:
		return "internal error"
	case CloseServiceRestart:
		return "service restart"
	case CloseTryAgainLater:
		return "try again later"
	case CloseBadGateway:
		return "bad gateway"
	case CloseTLSHandshake:
		return "TLS handshake failure"
	}
	n := strconv.Itoa(int(c))
	switch {
	case c >= 1000 && c <= 2999:
		return "unassigned(" + n + ")"
	case c >= 3000 && c <= 3999:
		return "registered(" + n + ")"
	case c >= 4000 && c <= 4999:
		return "private(" + n + ")"
	}
	return "invalid(" + n + ")"
}

// MaxCloseText is the longest reason text a Close frame can carry: the
// 125-byte control payload limit less the 2-byte code.
const MaxCloseText = MaxControlPayload - 2

// CloseReason is the content of a Close frame: a code and an optional UTF-8
// text of at most MaxCloseText bytes.
type CloseReason struct {
	Code CloseCode
	Text string
}

// AppendCloseReason appends the Close payload for r to dst: the code in
// network byte order, then the text. Code 0 means "no status" and appends
// nothing; so does CloseNoStatus with empty text, so a reason received as
// an empty payload can be echoed back as it is. Otherwise the error wraps
// ErrInvalidCloseReason when the code is not ValidOnWire, the text is
// longer than MaxCloseText bytes or not valid UTF-8, or text comes without
// a code; dst is then returned unchanged.
func AppendCloseReason(dst []byte, r CloseReason) ([]byte, error) {
	if r.Code == 0 || (r.Code == CloseNoStatus && r.Text == "") {
		if r.Text != "" {
			return dst, fmt.Errorf("%w: text without a status code", ErrInvalidCloseReason)
		}
		return dst, nil
	}
	if !r.Code.ValidOnWire() {
		return dst, fmt.Errorf("%w: code %d may not be sent", ErrInvalidCloseReason, r.Code)
	}
	if len(r.Text) > MaxCloseText {
		return dst, fmt.Errorf("%w: text of %d bytes, the limit is %d", ErrInvalidCloseReason, len(r.Text), MaxCloseText)
	}
	if !utf8.ValidString(r.Text) {
		return dst, fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidCloseReason)
	}
	dst = append(dst, byte(r.Code>>8), byte(r.Code))
	return append(dst, r.Text...), nil
}

// Errors ParseCloseReason returns; shared and read-only like the parser's.
var (
	errCloseOneByte = &ProtocolError{CloseProtocolError, "close payload of 1 byte"}
	errCloseTooLong = &ProtocolError{CloseProtocolError, "close payload over 125 bytes"}
	errCloseBadCode = &ProtocolError{CloseProtocolError, "invalid close code"}
	errCloseBadUTF8 = &ProtocolError{CloseInvalidPayload, "close reason is not valid UTF-8"}
)

// ParseCloseReason decodes a Close frame's (unmasked) payload. An empty
// payload gives {CloseNoStatus, ""}. A 1-byte payload, one over 125 bytes
// or a code that is not ValidOnWire gives a *ProtocolError with
// CloseProtocolError; text that is not valid UTF-8 gives one with
// CloseInvalidPayload. The text is copied: p is not retained.
func ParseCloseReason(p []byte) (CloseReason, error) {
	switch {
	case len(p) == 0:
		return CloseReason{Code: CloseNoStatus}, nil
	case len(p) == 1:
		return CloseReason{}, errCloseOneByte
	case len(p) > MaxControlPayload:
		return CloseReason{}, errCloseTooLong
	}
	c := CloseCode(p[0])<<8 | CloseCode(p[1])
	if !c.ValidOnWire() {
		return CloseReason{}, errCloseBadCode
	}
	if !ValidUTF8(p[2:]) {
		return CloseReason{}, errCloseBadUTF8
	}
	return CloseReason{Code: c, Text: string(p[2:])}, nil
}
