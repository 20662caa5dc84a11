package frame

import (
	"errors"
	"strconv"
)

// ProtocolError is a violation of RFC 6455 by the peer. Code is the close
// code to answer with (CloseProtocolError, CloseInvalidPayload or
// CloseTooBig); Reason is a short text that fits a close frame (at most 123
// bytes), suitable for CloseReason.Text as it is.
//
// The parser returns shared *ProtocolError values: treat them as read-only.
type ProtocolError struct {
	Code   CloseCode
	Reason string
}

// Error returns "websocket protocol error <code>: <reason>".
func (e *ProtocolError) Error() string {
	return "websocket protocol error " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

// ErrInvalidCloseReason is wrapped by AppendCloseReason when a CloseReason
// cannot be sent: a code not valid on the wire, text over 123 bytes, text
// that is not UTF-8, or text without a code.
var ErrInvalidCloseReason = errors.New("frame: invalid close reason")

// The parser's errors, one per rule, shared so that failing costs no
// allocation.
var (
	errReservedOpcode    = &ProtocolError{CloseProtocolError, "reserved opcode"}
	errFragmentedControl = &ProtocolError{CloseProtocolError, "fragmented control frame"}
	errControlTooLong    = &ProtocolError{CloseProtocolError, "control frame payload over 125 bytes"}
	errReservedBits      = &ProtocolError{CloseProtocolError, "reserved bit set without a negotiated extension"}
	errLengthTopBit      = &ProtocolError{CloseProtocolError, "64-bit payload length with the top bit set"}
	errUnmasked          = &ProtocolError{CloseProtocolError, "unmasked frame from client"}
	errMasked            = &ProtocolError{CloseProtocolError, "masked frame from server"}
	errTooBig            = &ProtocolError{CloseTooBig, "frame too big"}
)
