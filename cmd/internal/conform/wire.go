package conform

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Opcodes as RFC 6455 §5.2 numbers them. The runner keeps its own copy so
// it stays an independent peer of the library it tests.
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// acceptGUID is the fixed string of RFC 6455 §1.3 appended to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wframe is a frame as the runner puts it on the wire. Every field is taken
// literally so that deliberately invalid frames can be expressed.
type wframe struct {
	fin     bool
	rsv     byte // already shifted: 0x40, 0x20, 0x10
	op      byte
	payload []byte
	// unmasked sends the frame without a mask, which a server must reject.
	unmasked bool
	// lenForm forces the length encoding: 0 minimal, 1 seven bit, 2 16-bit,
	// 3 64-bit. A forced form shorter than the payload needs is not used.
	lenForm int
	// declared, when non-zero, is written as the 64-bit length instead of
	// len(payload) (for the "top bit set" case).
	declared uint64
}

// encode appends the wire form of f to dst with a fresh random mask.
func (f wframe) encode(dst []byte) []byte {
	b0 := f.op & 0x0f
	if f.fin {
		b0 |= 0x80
	}
	b0 |= f.rsv & 0x70
	var maskBit byte = 0x80
	if f.unmasked {
		maskBit = 0
	}
	n := uint64(len(f.payload))
	need := 3
	switch {
	case n < 126:
		need = 1
	case n < 1<<16:
		need = 2
	}
	form := max(f.lenForm, need)
	if f.declared != 0 {
		form = 3
	}
	switch form {
	case 1:
		dst = append(dst, b0, maskBit|byte(n))
	case 2:
		dst = append(dst, b0, maskBit|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		if f.declared != 0 {
			n = f.declared
		}
		dst = append(dst, b0, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, n)
	}
	if f.unmasked {
		return append(dst, f.payload...)
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, f.payload...)
	maskBytes(key, dst[start:])
	return dst
}

// maskBytes XORs b with the repeating key, eight bytes at a step: the
// size cases mask 16 MiB messages and a byte loop would dominate them.
func maskBytes(key [4]byte, b []byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// rframe is a frame the server sent, as read off the wire.
type rframe struct {
	fin     bool
	rsv     byte
	op      byte
	masked  bool
	payload []byte
}

// errFrameTooLong guards the runner against a server announcing an absurd
// length: nothing in the suite is echoed bigger than this.
var errFrameTooLong = errors.New("conform: server frame longer than 64 MiB")

// readFrame reads one server frame from r.
func readFrame(r *bufio.Reader) (rframe, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return rframe{}, err
	}
	f := rframe{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, op: h[0] & 0x0f, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return rframe{}, unexpected(err)
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return rframe{}, unexpected(err)
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 64<<20 {
		return rframe{}, errFrameTooLong
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return rframe{}, unexpected(err)
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return rframe{}, unexpected(err)
	}
	if f.masked {
		maskBytes(key, f.payload)
	}
	return f, nil
}

// unexpected turns an EOF inside a frame into io.ErrUnexpectedEOF so a
// truncated frame is not mistaken for a clean TCP close.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// handshakeOpts varies the opening handshake for the cases that test it.
type handshakeOpts struct {
	extra      [][2]string // added request headers
	connection string      // Connection header value; "Upgrade" when empty
	version    string      // Sec-WebSocket-Version; "13" when empty
	chop       int         // write the request in pieces of this size
	// extensions, when set, receives the response's
	// Sec-WebSocket-Extensions value (all fields joined with ", ").
	extensions *string
}

// target is a parsed ws:// URL.
type target struct {
	hostport string // for dialing
	host     string // Host header
	path     string // request target
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if u.Scheme != "ws" {
		return target{}, fmt.Errorf("%w: scheme %q (only ws:// is supported)", ErrBadURL, u.Scheme)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("%w: no host", ErrBadURL)
	}
	t := target{host: u.Host, hostport: u.Host, path: u.RequestURI()}
	if u.Port() == "" {
		t.hostport = net.JoinHostPort(u.Hostname(), "80")
	}
	if t.path == "" {
		t.path = "/"
	}
	return t, nil
}

// errHandshake is wrapped by every handshake failure.
var errHandshake = errors.New("conform: handshake failed")

// handshake writes the upgrade request on c and reads the answer. It
// returns the reader positioned at the first frame byte and the status line
// and status code (status != 101 is returned without error so the handshake
// cases can judge it).
func handshake(c net.Conn, t target, o handshakeOpts, deadline time.Time) (*bufio.Reader, int, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	conn := o.connection
	if conn == "" {
		conn = "Upgrade"
	}
	ver := o.version
	if ver == "" {
		ver = "13"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: %s\r\n", t.path, t.host, conn)
	fmt.Fprintf(&sb, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n", k, ver)
	for _, h := range o.extra {
		fmt.Fprintf(&sb, "%s: %s\r\n", h[0], h[1])
	}
	sb.WriteString("\r\n")
	_ = c.SetDeadline(deadline)
	if err := writeChopped(c, []byte(sb.String()), o.chop); err != nil {
		return nil, 0, fmt.Errorf("%w: write request: %v", errHandshake, err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read response: %v", errHandshake, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return r, resp.StatusCode, nil
	}
	h := sha1.Sum([]byte(k + acceptGUID))
	want := base64.StdEncoding.EncodeToString(h[:])
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != want {
		return nil, resp.StatusCode, fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", errHandshake, got, want)
	}
	if !tokenListHas(resp.Header.Values("Upgrade"), "websocket") {
		return nil, resp.StatusCode, fmt.Errorf("%w: response lacks Upgrade: websocket", errHandshake)
	}
	if !tokenListHas(resp.Header.Values("Connection"), "upgrade") {
		return nil, resp.StatusCode, fmt.Errorf("%w: response lacks Connection: Upgrade", errHandshake)
	}
	if o.extensions != nil {
		*o.extensions = strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
	}
	return r, resp.StatusCode, nil
}

func tokenListHas(values []string, tok string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// writeChopped writes b in pieces of at most chop bytes (all at once when
// chop <= 0), each its own write call so the server sees them split.
func writeChopped(c net.Conn, b []byte, chop int) error {
	if chop <= 0 || chop >= len(b) {
		_, err := c.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if _, err := c.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
