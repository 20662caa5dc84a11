package deflate

// Defaults for Settings fields left zero.
const (
	// DefaultLevel is the compression level used when Settings.Level is 0:
	// the fastest one, since a WebSocket server compresses on its event
	// loop and text payloads gain little from slower levels.
	DefaultLevel = bestSpeed
	// DefaultThreshold is the message size below which messages go out
	// uncompressed when Settings.Threshold is 0: a sync flush alone costs
	// 5 bytes and a small message rarely shrinks by more.
	DefaultThreshold = 128
)

// Settings are one endpoint's permessage-deflate choices. The zero value
// offers (or accepts) plain permessage-deflate: context takeover both ways,
// 32 KiB windows, DefaultLevel, DefaultThreshold.
type Settings struct {
	// Level is the DEFLATE level: 1 (fastest) to 9 (smallest), -1 for the
	// implementation's default (6) or -2 for Huffman-only coding (no LZ77
	// matches, so no window at all). 0 means DefaultLevel; other values are
	// clamped into 1..9.
	Level int
	// Threshold: messages shorter than this many bytes are sent
	// uncompressed. 0 means DefaultThreshold; negative compresses every
	// message, the empty one included.
	Threshold int
	// ServerNoContextTakeover: a server answers every accepted offer with
	// server_no_context_takeover, so it keeps no compressor between
	// messages (see the package doc for the memory this saves); a client
	// asks for it in its offer.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: a server answers with
	// client_no_context_takeover, so it keeps no 32 KiB inflate window
	// between messages; a client offers it and compresses each message on
	// its own.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits (8..15, 0 for none): a client offers
	// server_max_window_bits with it; a server answers with at most it. A
	// window below 15 makes the server's compressor work without context
	// takeover and send messages longer than the window uncompressed.
	ServerMaxWindowBits int
	// ClientMaxWindowBits (8..15, 0 for none): a client offers
	// client_max_window_bits (valueless for 15, as browsers do) and obeys
	// whatever limit the server answers with; a server answers an offer
	// carrying the parameter with this limit when it is below 15.
	ClientMaxWindowBits int
}

// level returns the effective compression level.
func (s Settings) level() int {
	switch l := s.Level; {
	case l == 0:
		return DefaultLevel
	case l == huffmanOnly || l == levelDefault:
		return l
	case l < bestSpeed:
		return bestSpeed
	case l > bestCompress:
		return bestCompress
	default:
		return l
	}
}

// threshold returns the effective size threshold.
func (s Settings) threshold() int {
	switch {
	case s.Threshold == 0:
		return DefaultThreshold
	case s.Threshold < 0:
		return 0
	default:
		return s.Threshold
	}
}
