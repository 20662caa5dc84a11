package frame

// Opcode is the 4-bit frame type of RFC 6455 §5.2.
type Opcode uint8

// The opcodes RFC 6455 defines. 0x3-0x7 and 0xB-0xF are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (close, ping, pong or a
// reserved control opcode 0xB-0xF). Control frames may not be fragmented and
// carry at most MaxControlPayload bytes.
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is one of the opcodes RFC 6455 reserves for
// future use (0x3-0x7 and 0xB-0xF).
func (o Opcode) IsReserved() bool {
	return (o >= 0x3 && o <= 0x7) || o >= 0xB
}

// IsData reports whether o starts or continues a data message.
func (o Opcode) IsData() bool { return o <= OpBinary }

// String returns the opcode's name, or "reserved(0xN)".
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	const hex = "0123456789abcdef"
	return "reserved(0x" + string(hex[o&0xf]) + ")"
}

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// MaxHeaderSize is the longest header a frame can have: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderSize = 14

// Frame is one WebSocket frame as the application sees it: unmasked payload
// and the header bits that matter above the wire.
//
// Ownership of Payload is stated by whoever hands a Frame over; see the root
// package's Session for the rules of each mode.
type Frame struct {
	Fin     bool
	Rsv1    bool
	Rsv2    bool
	Rsv3    bool
	Opcode  Opcode
	Payload []byte
}

// Rsv returns the three reserved bits as they sit in the first header byte
// (RSV1 = 0x40, RSV2 = 0x20, RSV3 = 0x10).
func (f *Frame) Rsv() byte {
	var r byte
	if f.Rsv1 {
		r |= 0x40
	}
	if f.Rsv2 {
		r |= 0x20
	}
	if f.Rsv3 {
		r |= 0x10
	}
	return r
}

// Header is a parsed or to-be-encoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // RSV1..3 as in the first header byte: 0x40, 0x20, 0x10
	Opcode Opcode
	Masked bool
	Key    [4]byte
	Length int64
}

// HeaderOf returns the header that carries f unmasked.
func HeaderOf(f *Frame) Header {
	return Header{Fin: f.Fin, Rsv: f.Rsv(), Opcode: f.Opcode, Length: int64(len(f.Payload))}
}
