package deflate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ExtensionName is the extension token of RFC 7692.
const ExtensionName = "permessage-deflate"

// The extension parameters of RFC 7692 §7.1.
const (
	paramServerNoContextTakeover = "server_no_context_takeover"
	paramClientNoContextTakeover = "client_no_context_takeover"
	paramServerMaxWindowBits     = "server_max_window_bits"
	paramClientMaxWindowBits     = "client_max_window_bits"
)

// Window sizes as base-2 logarithms (RFC 7692 §7.1.2: 8 to 15).
const (
	MinWindowBits = 8
	MaxWindowBits = 15
)

// Negotiation errors, wrapped with the offending detail.
var (
	// ErrBadOffer: an offer is malformed or asks for something this side
	// does not accept. The server declines such an offer and tries the next
	// one; it is never a reason to fail the handshake (RFC 7692 §5).
	ErrBadOffer = errors.New("deflate: bad permessage-deflate offer")
	// ErrBadResponse: the server's answer does not fit the client's offer;
	// RFC 7692 §5 says the client must then fail the WebSocket connection.
	ErrBadResponse = errors.New("deflate: bad permessage-deflate response")
)

// Params are the extension parameters that one accepted offer and its
// response agreed on; the zero value is plain permessage-deflate (both
// directions may keep their context, 32 KiB windows).
type Params struct {
	// ServerNoContextTakeover: the server compresses each message with an
	// empty LZ77 window, so the client needs no window between messages.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the same for the client's messages.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits limits the server's LZ77 window to 2^n bytes;
	// 0 means the parameter is absent (15).
	ServerMaxWindowBits int
	// ClientMaxWindowBits limits the client's window; 0 means absent. In an
	// offer, -1 stands for the valueless form ("I can limit my window").
	ClientMaxWindowBits int
}

// String formats p as a response (or offer) extension element.
func (p Params) String() string { return string(p.Append(nil)) }

// Append appends p formatted as an extension element to dst.
func (p Params) Append(dst []byte) []byte {
	dst = append(dst, ExtensionName...)
	if p.ServerNoContextTakeover {
		dst = append(dst, "; "+paramServerNoContextTakeover...)
	}
	if p.ClientNoContextTakeover {
		dst = append(dst, "; "+paramClientNoContextTakeover...)
	}
	if p.ServerMaxWindowBits > 0 {
		dst = append(dst, "; "+paramServerMaxWindowBits+"="...)
		dst = strconv.AppendInt(dst, int64(p.ServerMaxWindowBits), 10)
	}
	switch {
	case p.ClientMaxWindowBits < 0:
		dst = append(dst, "; "+paramClientMaxWindowBits...)
	case p.ClientMaxWindowBits > 0:
		dst = append(dst, "; "+paramClientMaxWindowBits+"="...)
		dst = strconv.AppendInt(dst, int64(p.ClientMaxWindowBits), 10)
	}
	return dst
}

// Accept is the server's half of the negotiation (RFC 7692 §5, §7.1). It
// reads a Sec-WebSocket-Extensions request value (all of the request's
// header lines joined with ", "), takes the first permessage-deflate offer
// that is well formed and acceptable under s, and returns the agreed
// parameters and the response value for the 101. ok is false when no offer
// was acceptable: the server then answers without the extension. Offers of
// other extensions are ignored; a malformed or unacceptable offer is
// skipped, never an error. Accept allocates only the response string.
func Accept(header string, s Settings) (p Params, response string, ok bool) {
	for rest := header; rest != ""; {
		var elem string
		elem, rest = nextElement(rest)
		name, params, good := splitName(elem)
		if !good || !strings.EqualFold(name, ExtensionName) {
			continue
		}
		offer, err := parseParams(params, true)
		if err != nil {
			continue
		}
		p, good = s.answer(offer)
		if good {
			return p, p.String(), true
		}
	}
	return Params{}, "", false
}

// answer decides the response to one well-formed offer.
func (s Settings) answer(offer Params) (Params, bool) {
	var p Params
	// §7.1.1.1: the server may add server_no_context_takeover even when the
	// client did not ask; it must add it when the client asked.
	p.ServerNoContextTakeover = offer.ServerNoContextTakeover || s.ServerNoContextTakeover
	// §7.1.1.2: the server may add client_no_context_takeover unasked. When
	// the client offered it (a hint that it resets anyway) confirming it
	// costs the client nothing and lets our inflater drop its 32 KiB window
	// between messages.
	p.ClientNoContextTakeover = offer.ClientNoContextTakeover || s.ClientNoContextTakeover
	// §7.1.2.1: accepting an offered server_max_window_bits means echoing a
	// value no larger; the server may also add the parameter unasked.
	win := MaxWindowBits
	if offer.ServerMaxWindowBits > 0 {
		win = offer.ServerMaxWindowBits
	}
	if b := s.ServerMaxWindowBits; b >= MinWindowBits && b < win {
		win = b
	}
	if offer.ServerMaxWindowBits > 0 || win < MaxWindowBits {
		p.ServerMaxWindowBits = win
	}
	if win < MaxWindowBits {
		// Go's deflaters always use a 32 KiB window, so a smaller one can
		// only be honoured by never referring further back than 2^win:
		// the compressor keeps no context between messages and compresses
		// only messages of at most 2^win bytes (sending bigger ones
		// uncompressed, which §6 allows per message). Saying so lets the
		// client drop its inflate window too (§7.1.1.1 allows adding the
		// parameter unasked).
		p.ServerNoContextTakeover = true
	}
	// §7.1.2.2: the server may limit the client's window only when the
	// client offered the parameter; it never has to.
	if offer.ClientMaxWindowBits != 0 {
		limit := MaxWindowBits
		if offer.ClientMaxWindowBits > 0 {
			limit = offer.ClientMaxWindowBits
		}
		if b := s.ClientMaxWindowBits; b >= MinWindowBits && b < limit {
			p.ClientMaxWindowBits = b
		}
	}
	return p, true
}

// Offer is the client's half: the Sec-WebSocket-Extensions value to send,
// one permessage-deflate offer built from s (RFC 7692 §7.1).
func Offer(s Settings) string {
	var p Params
	p.ServerNoContextTakeover = s.ServerNoContextTakeover
	p.ClientNoContextTakeover = s.ClientNoContextTakeover
	if b := s.ServerMaxWindowBits; b >= MinWindowBits && b <= MaxWindowBits {
		p.ServerMaxWindowBits = b
	}
	switch b := s.ClientMaxWindowBits; {
	case b == MaxWindowBits:
		p.ClientMaxWindowBits = -1 // the valueless form browsers send
	case b >= MinWindowBits && b < MaxWindowBits:
		p.ClientMaxWindowBits = b
	}
	return p.String()
}

// ParseResponse is the client's check of the server's answer to Offer(s)
// (RFC 7692 §5, §7.1). header is the response's Sec-WebSocket-Extensions
// value ("" when absent). ok is false when the server did not accept the
// extension. An answer the offer does not allow (another extension, two
// elements, unknown or duplicate parameters, bad values,
// client_max_window_bits not offered, a window larger than offered, an
// offered server parameter left out) is an error wrapping ErrBadResponse,
// and the client must fail the connection.
func ParseResponse(header string, s Settings) (p Params, ok bool, err error) {
	if strings.TrimSpace(header) == "" {
		return Params{}, false, nil
	}
	elem, rest := nextElement(header)
	if strings.TrimSpace(rest) != "" {
		return Params{}, false, fmt.Errorf("%w: more than one extension in %q", ErrBadResponse, header)
	}
	name, params, good := splitName(elem)
	if !good || !strings.EqualFold(name, ExtensionName) {
		return Params{}, false, fmt.Errorf("%w: extension not offered: %q", ErrBadResponse, header)
	}
	p, err = parseParams(params, false)
	if err != nil {
		return Params{}, false, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	offered := Offer(s)
	off, _ := parseParams(offered[len(ExtensionName):], true)
	switch {
	case off.ServerNoContextTakeover && !p.ServerNoContextTakeover:
		return Params{}, false, fmt.Errorf("%w: offered %s not accepted", ErrBadResponse, paramServerNoContextTakeover)
	case off.ServerMaxWindowBits > 0 && p.ServerMaxWindowBits == 0:
		return Params{}, false, fmt.Errorf("%w: offered %s not accepted", ErrBadResponse, paramServerMaxWindowBits)
	case off.ServerMaxWindowBits > 0 && p.ServerMaxWindowBits > off.ServerMaxWindowBits:
		return Params{}, false, fmt.Errorf("%w: %s=%d above the offered %d", ErrBadResponse, paramServerMaxWindowBits, p.ServerMaxWindowBits, off.ServerMaxWindowBits)
	case p.ClientMaxWindowBits != 0 && off.ClientMaxWindowBits == 0:
		return Params{}, false, fmt.Errorf("%w: %s not offered", ErrBadResponse, paramClientMaxWindowBits)
	case off.ClientMaxWindowBits > 0 && p.ClientMaxWindowBits > off.ClientMaxWindowBits:
		return Params{}, false, fmt.Errorf("%w: %s=%d above the offered %d", ErrBadResponse, paramClientMaxWindowBits, p.ClientMaxWindowBits, off.ClientMaxWindowBits)
	}
	// What the client itself offered binds it as well: a no-takeover or a
	// window limit it asked for stays in force even if the server's answer
	// leaves it out.
	p.ClientNoContextTakeover = p.ClientNoContextTakeover || off.ClientNoContextTakeover
	if off.ClientMaxWindowBits > 0 && p.ClientMaxWindowBits == 0 {
		p.ClientMaxWindowBits = off.ClientMaxWindowBits
	}
	return p, true, nil
}

// nextElement splits the first comma-separated element off a header list,
// honouring quoted strings (a comma inside quotes does not split).
func nextElement(s string) (elem, rest string) {
	quoted, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// splitName returns the extension token of an element and the rest (the
// parameters, starting at the first ';').
func splitName(elem string) (name, params string, ok bool) {
	elem = trimOWS(elem)
	i := strings.IndexByte(elem, ';')
	if i < 0 {
		i = len(elem)
	}
	name = trimOWS(elem[:i])
	return name, elem[i:], isToken(name)
}

// parseParams reads ";name[=value]" parameters. offer selects the offer
// rules (client_max_window_bits may be valueless) or the response rules.
// Every error wraps ErrBadOffer; ParseResponse rewraps.
func parseParams(s string, offer bool) (Params, error) {
	var p Params
	var seen [4]bool
	for s != "" {
		if s[0] != ';' {
			return p, fmt.Errorf("%w: expected ';' in %q", ErrBadOffer, s)
		}
		s = s[1:]
		j := indexUnquoted(s, ';')
		item := trimOWS(s[:j])
		s = s[j:]
		name, value, hasValue := strings.Cut(item, "=")
		name = trimOWS(name)
		if hasValue {
			var err error
			if value, err = paramValue(trimOWS(value)); err != nil {
				return p, err
			}
		}
		idx := -1
		switch strings.ToLower(name) {
		case paramServerNoContextTakeover:
			idx = 0
			if hasValue {
				return p, fmt.Errorf("%w: %s takes no value", ErrBadOffer, name)
			}
			p.ServerNoContextTakeover = true
		case paramClientNoContextTakeover:
			idx = 1
			if hasValue {
				return p, fmt.Errorf("%w: %s takes no value", ErrBadOffer, name)
			}
			p.ClientNoContextTakeover = true
		case paramServerMaxWindowBits:
			idx = 2
			if !hasValue {
				return p, fmt.Errorf("%w: %s needs a value", ErrBadOffer, name)
			}
			b, err := windowBits(value)
			if err != nil {
				return p, err
			}
			p.ServerMaxWindowBits = b
		case paramClientMaxWindowBits:
			idx = 3
			switch {
			case hasValue:
				b, err := windowBits(value)
				if err != nil {
					return p, err
				}
				p.ClientMaxWindowBits = b
			case offer:
				p.ClientMaxWindowBits = -1
			default:
				return p, fmt.Errorf("%w: %s needs a value in a response", ErrBadOffer, name)
			}
		default:
			return p, fmt.Errorf("%w: unknown parameter %q", ErrBadOffer, name)
		}
		if seen[idx] {
			return p, fmt.Errorf("%w: duplicate parameter %s", ErrBadOffer, name)
		}
		seen[idx] = true
	}
	return p, nil
}

// paramValue unquotes a token or quoted-string (RFC 9110 §5.6.4); §7.1
// says a quoted value must, unquoted, follow the same syntax.
func paramValue(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i == len(v)-1 {
					return "", fmt.Errorf("%w: bad quoted value %q", ErrBadOffer, v)
				}
				c = v[i]
			} else if c == '"' {
				return "", fmt.Errorf("%w: bad quoted value %q", ErrBadOffer, v)
			}
			b.WriteByte(c)
		}
		return b.String(), nil
	}
	if !isToken(v) {
		return "", fmt.Errorf("%w: bad value %q", ErrBadOffer, v)
	}
	return v, nil
}

// windowBits parses a window size: a decimal 8..15 without leading zeros
// or sign (§7.1.2.1).
func windowBits(v string) (int, error) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, fmt.Errorf("%w: bad window bits %q", ErrBadOffer, v)
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%w: bad window bits %q", ErrBadOffer, v)
		}
		n = n*10 + int(v[i]-'0')
	}
	if n < MinWindowBits || n > MaxWindowBits {
		return 0, fmt.Errorf("%w: window bits %d outside 8..15", ErrBadOffer, n)
	}
	return n, nil
}

// indexUnquoted is the index of the first c outside a quoted string, or
// len(s).
func indexUnquoted(s string, c byte) int {
	quoted, escaped := false, false
	for i := 0; i < len(s); i++ {
		switch {
		case escaped:
			escaped = false
		case quoted && s[i] == '\\':
			escaped = true
		case s[i] == '"':
			quoted = !quoted
		case s[i] == c && !quoted:
			return i
		}
	}
	return len(s)
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
