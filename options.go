package rawws

import (
	"fmt"
	"time"
)

// QueueFullPolicy says what an event-mode Send does when the outgoing queue
// is at its frame or byte cap. Channel-mode Send blocks instead.
type QueueFullPolicy uint8

const (
	// QueueFullError refuses the frame with ErrQueueFull; the session goes on.
	QueueFullError QueueFullPolicy = iota
	// QueueFullClose refuses the frame with ErrQueueFull and closes the
	// session with 1008 (policy violation): a peer that does not read must
	// not make the server hold unbounded data.
	QueueFullClose
)

// Defaults for Options fields left zero.
const (
	DefaultIncomingFrames = 8
	DefaultOutgoingFrames = 8
	DefaultOutgoingBytes  = 4 << 20
	DefaultMaxMessageSize = 16 << 20
	DefaultMaxFrameSize   = 16 << 20
	DefaultCloseTimeout   = 5 * time.Second
)

// Options configure a Session. The zero value is a server-side raw session
// with the documented defaults; a zero field means its default, applied
// where the field is read, so sessions can share one Options (an endpoint's
// sessions do: see Accept) without a copy each.
type Options struct {
	// Client marks the session as the client end: frames are masked when
	// written (SetMasking can change that later) and, with a message
	// handler, masked frames from the peer are a protocol error.
	Client bool
	// Masking is the initial value of SetMasking; Client implies true.
	Masking bool
	// MaxFrameSize caps the payload a peer's frame may announce; a larger
	// header is answered with Close 1009 before any payload is read and the
	// session ends with ErrFrameTooBig. 0 means the default: 16 MiB, or
	// MaxMessageSize in message mode; negative means no cap (the seed's
	// Int.MAX_VALUE), which lets a peer make the session buffer a frame of
	// any size.
	MaxFrameSize int64
	// AllowedRsv holds RSV bits (0x40, 0x20, 0x10 as in the first header
	// byte) an extension negotiated outside the session, so raw frames
	// carrying them are delivered instead of failing with 1002. Raw modes
	// only: message mode accepts RSV1 only on the first frame of a message
	// once Compression negotiated permessage-deflate, and no other bit.
	AllowedRsv byte
	// MaxMessageSize caps a reassembled message in message mode (1009 when
	// exceeded). Default 16 MiB; negative means no cap.
	MaxMessageSize int64
	// IncomingFrames is the capacity of Incoming in channel mode (default 8).
	// A full Incoming pauses reading the connection.
	IncomingFrames int
	// OutgoingFrames and OutgoingBytes bound the frames held by the session
	// while the socket is busy (defaults 8 frames and 4 MiB; a single frame
	// larger than OutgoingBytes is admitted when the queue is empty).
	OutgoingFrames int
	OutgoingBytes  int
	// QueueFull is what an event-mode Send does at the cap.
	QueueFull QueueFullPolicy
	// CloseTimeout bounds how long a session waits for the peer to finish a
	// close (its Close frame or EOF) after ours was written, and how long a
	// terminated session keeps reading; then the connection is closed.
	// Default 5 s; negative means wait forever.
	CloseTimeout time.Duration
	// WriteTimeout closes the session (Err: ErrWriteTimeout) when its
	// output waits for a peer that reads nothing for this long: the
	// connection's queue is full and shrinks by nothing. It times progress,
	// not messages: a slow reader is served as long as it reads. Default
	// 60 s; negative means wait forever.
	WriteTimeout time.Duration
	// Handler, when set, runs the session in event mode: raw frames are
	// handed to it on the loop and Incoming is not used.
	Handler Handler
	// MessageHandler, when set, runs the session in message mode (see
	// NewSession). Setting both Handler and MessageHandler is an error
	// (ErrInvalidArgument) wherever the options are given.
	MessageHandler MessageHandler
	// Blocking, when set, runs the session in blocking mode, for
	// goroutine-style code: message mode's rules (reassembly, UTF-8
	// checks, pings answered, the close handshake completed, protocol
	// errors closed with their codes) with the messages read by Read,
	// Reader or NetConn on the caller's goroutine instead of handed to a
	// handler, and Send blocking while the queue is full. MaxFrameSize
	// defaults to no cap, since a streamed frame is never buffered whole;
	// MaxMessageSize caps what Read assembles. Handler and MessageHandler
	// must be nil (ErrInvalidArgument).
	Blocking bool
	// Compression, when set, negotiates permessage-deflate (RFC 7692) in
	// UpgradeHTTP, App endpoints and Dial; see Compression. nil: the
	// extension is neither offered nor accepted.
	Compression *Compression
	// Group, when set, is the group the session joins when it opens and
	// leaves when its connection is gone: it counts the session's traffic
	// and closes it with the others on Group.Drain. An upgrade naming a
	// group that drains is refused with 503 and ErrDraining. nil: the
	// session belongs to no group and is counted nowhere.
	Group *Group
}

// check refuses options that contradict each other.
func (o *Options) check() error {
	if o.Handler != nil && o.MessageHandler != nil {
		return fmt.Errorf("rawws: options: %w: both Handler and MessageHandler set (one mode per session)", ErrInvalidArgument)
	}
	if o.Blocking && (o.Handler != nil || o.MessageHandler != nil) {
		return fmt.Errorf("rawws: options: %w: Blocking with a Handler or MessageHandler (one mode per session)", ErrInvalidArgument)
	}
	return nil
}

// The fields with defaults, as the session reads them.

func (o *Options) incomingFrames() int {
	if o.IncomingFrames <= 0 {
		return DefaultIncomingFrames
	}
	return o.IncomingFrames
}

func (o *Options) outgoingFrames() int {
	if o.OutgoingFrames <= 0 {
		return DefaultOutgoingFrames
	}
	return o.OutgoingFrames
}

func (o *Options) outgoingBytes() int {
	if o.OutgoingBytes <= 0 {
		return DefaultOutgoingBytes
	}
	return o.OutgoingBytes
}

// maxMessageSize is the message cap; negative means none.
func (o *Options) maxMessageSize() int64 {
	if o.MaxMessageSize == 0 {
		return DefaultMaxMessageSize
	}
	return o.MaxMessageSize
}

// writeTimeout bounds a wait for the peer to read; negative means forever.
func (o *Options) writeTimeout() time.Duration {
	if o.WriteTimeout == 0 {
		return defaultWriteTimeout
	}
	return o.WriteTimeout
}

// defaultWriteTimeout is WriteTimeout's default, the HTTP server's too
// (http.DefaultWriteTimeout).
const defaultWriteTimeout = 60 * time.Second

// closeTimeout bounds a closing session's linger; negative means forever.
func (o *Options) closeTimeout() time.Duration {
	if o.CloseTimeout == 0 {
		return DefaultCloseTimeout
	}
	return o.CloseTimeout
}
