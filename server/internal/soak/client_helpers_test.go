package soak

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/frame"
)

// ErrBadFrame is wrapped by every malformed frame a RawClient reads.
var ErrBadFrame = errors.New("soak: bad frame from server")

// ErrHandshake is wrapped when the server does not answer 101 correctly.
var ErrHandshake = errors.New("soak: websocket handshake failed")

// RawClient is a blocking WebSocket client on a plain net.Conn that writes
// exactly the frames it is told to (fragments, interleaved pings, partial
// frames) and reads frames one by one. It is independent of the library's
// session code so it can play a hostile or broken peer. Reads and writes
// may run on two goroutines; each side is not safe for concurrent use.
type RawClient struct {
	Conn net.Conn
	r    *bufio.Reader
	wbuf []byte
}

// wsGUID is RFC 6455's fixed accept-key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// DialRaw connects to addr, performs the opening handshake for path and
// returns the client. timeout bounds the connect and handshake.
func DialRaw(addr, path string, timeout time.Duration) (*RawClient, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	rc, err := Handshake(c, addr, path, timeout)
	if err != nil {
		c.Close()
		return nil, err
	}
	return rc, nil
}

// Handshake runs the client's opening handshake on c, bounded by timeout.
func Handshake(c net.Conn, host, path string, timeout time.Duration) (*RawClient, error) {
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	status, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		return nil, fmt.Errorf("%w: status %q", ErrHandshake, strings.TrimSpace(status))
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	gotAccept := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, val, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Sec-WebSocket-Accept") && strings.TrimSpace(val) == want {
			gotAccept = true
		}
	}
	if !gotAccept {
		return nil, fmt.Errorf("%w: missing or wrong Sec-WebSocket-Accept", ErrHandshake)
	}
	return &RawClient{Conn: c, r: r}, nil
}

// WriteFrame writes one masked frame with a fresh random key. payload is
// not modified.
func (c *RawClient) WriteFrame(fin bool, op frame.Opcode, payload []byte) error {
	_, err := c.Conn.Write(c.AppendFrame(nil, fin, op, payload))
	return err
}

// AppendFrame appends the masked wire form of a frame to dst (using an
// internal buffer when dst is nil; the result is valid until the next
// call).
func (c *RawClient) AppendFrame(dst []byte, fin bool, op frame.Opcode, payload []byte) []byte {
	if dst == nil {
		dst = c.wbuf[:0]
	}
	var key [4]byte
	rand.Read(key[:])
	dst = frame.AppendHeader(dst, frame.Header{Fin: fin, Opcode: op, Masked: true, Key: key, Length: int64(len(payload))})
	start := len(dst)
	dst = append(dst, payload...)
	rawws.Mask(key, 0, dst[start:])
	if cap(dst) <= 4<<20 {
		c.wbuf = dst[:0]
	}
	return dst
}

// WriteClose writes a Close frame with code (0: no payload) and text.
func (c *RawClient) WriteClose(code frame.CloseCode, text string) error {
	var p []byte
	if code != 0 {
		p = binary.BigEndian.AppendUint16(nil, uint16(code))
		p = append(p, text...)
	}
	return c.WriteFrame(true, frame.OpClose, p)
}

// Frame is a frame as a RawClient read it.
type Frame struct {
	Fin     bool
	Opcode  frame.Opcode
	Payload []byte
}

// CloseCode decodes a Close frame's status code (CloseNoStatus when empty).
func (f Frame) CloseCode() frame.CloseCode {
	if len(f.Payload) < 2 {
		return frame.CloseNoStatus
	}
	return frame.CloseCode(binary.BigEndian.Uint16(f.Payload))
}

// ReadFrame reads the next frame. buf is reused for the payload when it is
// large enough (pass nil to allocate). Server frames must be unmasked and
// use no RSV bit.
func (c *RawClient) ReadFrame(buf []byte) (Frame, error) {
	var h [8]byte
	if _, err := io.ReadFull(c.r, h[:2]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: h[0]&0x80 != 0, Opcode: frame.Opcode(h[0] & 0x0f)}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return f, fmt.Errorf("%w: header %#x %#x (rsv or mask set)", ErrBadFrame, h[0], h[1])
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.r, h[:2]); err != nil {
			return f, unexpectedEOF(err)
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c.r, h[:8]); err != nil {
			return f, unexpectedEOF(err)
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > 64<<20 {
		return f, fmt.Errorf("%w: length %d", ErrBadFrame, n)
	}
	if uint64(cap(buf)) >= n {
		f.Payload = buf[:n]
	} else {
		f.Payload = make([]byte, n)
	}
	if _, err := io.ReadFull(c.r, f.Payload); err != nil {
		return f, unexpectedEOF(err)
	}
	return f, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadUntilClose reads frames until a Close frame, skipping data and
// control frames, within timeout. It returns the Close frame, or an error
// (io.EOF when the server dropped TCP without one).
func (c *RawClient) ReadUntilClose(timeout time.Duration) (Frame, error) {
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.Conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 64<<10)
	for {
		f, err := c.ReadFrame(buf)
		if err != nil {
			return f, err
		}
		if f.Opcode == frame.OpClose {
			f.Payload = bytes.Clone(f.Payload)
			return f, nil
		}
	}
}

// ExpectEOF reads until the server closes TCP, within timeout, discarding
// what comes; it reports whether EOF (or a reset) came in time.
func (c *RawClient) ExpectEOF(timeout time.Duration) error {
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.Conn.SetReadDeadline(time.Time{})
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return nil
}

// Echo writes one binary message and reads it back, within timeout; it is
// the "is this connection still healthy" probe.
func (c *RawClient) Echo(payload []byte, timeout time.Duration) error {
	c.Conn.SetDeadline(time.Now().Add(timeout))
	defer c.Conn.SetDeadline(time.Time{})
	if err := c.WriteFrame(true, frame.OpBinary, payload); err != nil {
		return err
	}
	for {
		f, err := c.ReadFrame(nil)
		if err != nil {
			return err
		}
		switch f.Opcode {
		case frame.OpPing, frame.OpPong:
			continue
		case frame.OpBinary:
			if !f.Fin || !bytes.Equal(f.Payload, payload) {
				return fmt.Errorf("soak: echo of %d bytes came back as %d bytes (fin %v)", len(payload), len(f.Payload), f.Fin)
			}
			return nil
		default:
			return fmt.Errorf("soak: echo answered with opcode %v", f.Opcode)
		}
	}
}

// Close closes the TCP connection.
func (c *RawClient) Close() error { return c.Conn.Close() }
