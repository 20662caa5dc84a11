package http

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// ErrBadUpgrade is wrapped by every handshake validation error; the
// *UpgradeError that wraps it carries the HTTP status to answer with.
var ErrBadUpgrade = errors.New("http: bad websocket upgrade")

// UpgradeError is a rejected WebSocket upgrade request. Status is the HTTP
// status the server should answer with: 400 (malformed), 403 (origin
// refused), 405 (method not GET) or 426 (unsupported Sec-WebSocket-Version).
type UpgradeError struct {
	Status int
	Reason string
}

// Error describes the rejection with its status.
func (e *UpgradeError) Error() string {
	return "http: bad websocket upgrade: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// Unwrap returns ErrBadUpgrade so callers can test with errors.Is.
func (e *UpgradeError) Unwrap() error { return ErrBadUpgrade }

// websocketGUID is the fixed string RFC 6455 §1.3 appends to the client's key.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// IsWebSocketUpgrade reports whether the request asks for a WebSocket
// upgrade: its Upgrade header lists the token "websocket" (any case). It does
// not validate the rest of the handshake; it is cheap enough for routing.
// header(name) returns all values of the named header joined with ", ".
func IsWebSocketUpgrade(header func(name string) string) bool {
	return hasToken(header("Upgrade"), "websocket")
}

// CheckUpgrade validates an upgrade request as RFC 6455 §4.2.1 says:
// method GET, a Host header, "websocket" in the Upgrade token list,
// "upgrade" in the Connection token list, Sec-WebSocket-Version 13 and a
// Sec-WebSocket-Key that is the base64 of exactly 16 bytes. header(name)
// returns ALL values of the named header (case-insensitive name) joined with
// ", ", or "" when absent. It returns the key; on failure the error is an
// *UpgradeError wrapping ErrBadUpgrade, whose Status says how to answer.
func CheckUpgrade(method string, header func(name string) string) (key string, err error) {
	if method != "GET" {
		return "", &UpgradeError{Status: 405, Reason: "websocket upgrade needs method GET"}
	}
	if strings.TrimSpace(header("Host")) == "" {
		return "", &UpgradeError{Status: 400, Reason: "missing Host header"}
	}
	if !hasToken(header("Upgrade"), "websocket") {
		return "", &UpgradeError{Status: 400, Reason: "Upgrade header does not list websocket"}
	}
	if !hasToken(header("Connection"), "upgrade") {
		return "", &UpgradeError{Status: 400, Reason: "Connection header does not list upgrade"}
	}
	if v := strings.TrimSpace(header("Sec-WebSocket-Version")); v != "13" {
		return "", &UpgradeError{Status: 426, Reason: "unsupported Sec-WebSocket-Version " + strconv.Quote(v)}
	}
	key = strings.TrimSpace(header("Sec-WebSocket-Key"))
	if !validKey(key) {
		return "", &UpgradeError{Status: 400, Reason: "Sec-WebSocket-Key is not base64 of 16 bytes"}
	}
	return key, nil
}

// validKey reports whether key is the standard base64 encoding of exactly 16
// bytes: 22 alphabet characters and "==", the last character before the
// padding carrying no stray low bits.
func validKey(key string) bool {
	if len(key) != 24 || key[22] != '=' || key[23] != '=' {
		return false
	}
	var buf [18]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(key))
	return err == nil && n == 16
}

// AppendAcceptKey appends the Sec-WebSocket-Accept value for key,
// base64(SHA-1(key + GUID)), to dst. It allocates nothing beyond dst's growth.
func AppendAcceptKey(dst []byte, key string) []byte {
	var buf [128]byte
	in := buf[:0]
	if len(key)+len(websocketGUID) > len(buf) {
		in = make([]byte, 0, len(key)+len(websocketGUID))
	}
	in = append(append(in, key...), websocketGUID...)
	sum := sha1.Sum(in)
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// UpgradeResponse describes the 101 answer to an accepted upgrade.
type UpgradeResponse struct {
	// Key is the client's Sec-WebSocket-Key (as CheckUpgrade returned it).
	Key string
	// Protocol is the chosen subprotocol, or "" for none.
	Protocol string
	// Extensions is the Sec-WebSocket-Extensions value, or "" for none.
	Extensions string
	// Header holds extra header fields as name/value pairs. Names and values
	// must not contain CR or LF; fields that do are skipped.
	Header [][2]string
}

// AppendSwitchingProtocols appends the complete response head
// "HTTP/1.1 101 Switching Protocols\r\n...\r\n\r\n" for r to dst.
func AppendSwitchingProtocols(dst []byte, r UpgradeResponse) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = AppendAcceptKey(dst, r.Key)
	dst = append(dst, "\r\n"...)
	if r.Protocol != "" && safeField(r.Protocol) {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, r.Protocol...)
		dst = append(dst, "\r\n"...)
	}
	if r.Extensions != "" && safeField(r.Extensions) {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = append(dst, r.Extensions...)
		dst = append(dst, "\r\n"...)
	}
	for _, kv := range r.Header {
		if kv[0] == "" || !safeField(kv[0]) || !safeField(kv[1]) {
			continue
		}
		dst = append(dst, kv[0]...)
		dst = append(dst, ": "...)
		dst = append(dst, kv[1]...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// safeField reports whether s can go into a header line without splitting it.
func safeField(s string) bool {
	return strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0
}

// AppendUpgradeError appends a complete error response for err to dst: the
// status line, Connection: close, Content-Type text/plain, Content-Length, a
// "Sec-WebSocket-Version: 13" field for 426, and a short body. err that is
// not an *UpgradeError is answered with 400.
func AppendUpgradeError(dst []byte, err error) []byte {
	status, reason := 400, "bad websocket upgrade"
	var ue *UpgradeError
	if errors.As(err, &ue) {
		status = ue.Status
		if ue.Reason != "" && safeField(ue.Reason) {
			reason = ue.Reason
		}
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	if status == 426 {
		dst = append(dst, "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(reason)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}

// statusText is the reason phrase for the statuses an upgrade can fail with.
func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 426:
		return "Upgrade Required"
	}
	return "Error"
}

// ChooseSubprotocol picks the first of the server's supported protocols that
// the client offered in the Sec-WebSocket-Protocol value (comma-separated
// tokens, compared exactly as RFC 6455 makes them case-sensitive). It returns
// "" when none matches.
func ChooseSubprotocol(offered string, supported []string) string {
	for _, s := range supported {
		rest := offered
		for rest != "" {
			var tok string
			tok, rest, _ = strings.Cut(rest, ",")
			if strings.TrimSpace(tok) == s && s != "" {
				return s
			}
		}
	}
	return ""
}

// hasToken reports whether the comma-separated list v contains token,
// compared case-insensitively with surrounding whitespace ignored.
func hasToken(v, token string) bool {
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(tok), token) {
			return true
		}
	}
	return false
}
