package conform

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// flaw is one deliberate defect of the test echo server.
type flaw int

const (
	flawNone         flaw = iota
	flawLateUTF8          // validates text only when the message is complete
	flawNoUTF8            // never validates text
	flawAcceptRSV         // ignores RSV bits
	flawNoPong            // never answers pings
	flawKeepTCP           // completes the close handshake but never closes TCP
	flawCode1000          // fails the connection with 1000 instead of 1002
	flawEchoReserved      // echoes frames with reserved opcodes as binary
	flawAnyVersion        // accepts any Sec-WebSocket-Version
)

// testServer is an echo server written for the tests, independently of
// the runner's encoder: it reads frames with its own code, so a runner bug
// and a server bug do not cancel out.
func testServer(t *testing.T, f flaw) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-WebSocket-Version") != "13" && f != flawAnyVersion {
			w.Header().Set("Sec-WebSocket-Version", "13")
			w.WriteHeader(http.StatusUpgradeRequired)
			return
		}
		key := r.Header.Get("Sec-WebSocket-Key")
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			base64.StdEncoding.EncodeToString(h[:])+"\r\n\r\n")
		(&echoConn{c: c, r: rw.Reader, flaw: f}).serve()
	}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/"
}

type echoConn struct {
	c    net.Conn
	r    *bufio.Reader
	flaw flaw
}

func (e *echoConn) write(op byte, p []byte) {
	_, _ = e.c.Write(wframe{fin: true, op: op, payload: p, unmasked: true}.encode(nil))
}

// fail sends a close with code and ends the connection.
func (e *echoConn) fail(code int) {
	if e.flaw == flawCode1000 {
		code = 1000
	}
	e.write(0x8, binary.BigEndian.AppendUint16(nil, uint16(code)))
}

// textState says whether buf can still become valid UTF-8.
func textState(buf []byte) (ok bool) {
	if utf8.Valid(buf) {
		return true
	}
	start := len(buf) - 1
	for start > 0 && len(buf)-start < 4 && buf[start]&0xc0 == 0x80 {
		start--
	}
	return utf8.Valid(buf[:start]) && !utf8.FullRune(buf[start:])
}

func (e *echoConn) serve() {
	var msgOp byte
	var msg []byte
	inMsg := false
	for {
		var hd [2]byte
		if _, err := io.ReadFull(e.r, hd[:]); err != nil {
			return
		}
		fin, rsv, op, masked := hd[0]&0x80 != 0, hd[0]&0x70, hd[0]&0x0f, hd[1]&0x80 != 0
		n := uint64(hd[1] & 0x7f)
		if n == 126 {
			var b [2]byte
			if _, err := io.ReadFull(e.r, b[:]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		} else if n == 127 {
			var b [8]byte
			if _, err := io.ReadFull(e.r, b[:]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		reserved := (op >= 3 && op <= 7) || op >= 0xb
		switch {
		case !masked, rsv != 0 && e.flaw != flawAcceptRSV, reserved && e.flaw != flawEchoReserved,
			op >= 8 && (!fin || n > 125), n>>63 != 0:
			e.fail(1002)
			return
		case n > 32<<20:
			e.fail(1009)
			return
		}
		var key [4]byte
		if _, err := io.ReadFull(e.r, key[:]); err != nil {
			return
		}
		// The payload is read as it arrives and text is checked after
		// every read, so invalid UTF-8 fails before the frame is complete.
		p := make([]byte, n)
		checkText := e.flaw == flawNone && (op == 0x1 || (op == 0 && inMsg && msgOp == 0x1))
		if op == 0x1 {
			msg = msg[:0]
		}
		for off := 0; off < len(p); {
			m, err := e.r.Read(p[off:])
			if err != nil {
				return
			}
			for i := off; i < off+m; i++ {
				p[i] ^= key[i&3]
			}
			off += m
			if checkText && !textState(append(msg, p[:off]...)) {
				e.fail(1007)
				return
			}
		}
		switch {
		case reserved:
			e.write(0x2, p)
		case op == 0x9:
			if e.flaw != flawNoPong {
				e.write(0xA, p)
			}
		case op == 0xA:
		case op == 0x8:
			if !e.closeReply(p) {
				return
			}
			if e.flaw == flawKeepTCP {
				time.Sleep(2 * time.Second)
			}
			return
		default:
			if (op == 0) != inMsg {
				e.fail(1002)
				return
			}
			if op != 0 {
				msgOp, msg, inMsg = op, msg[:0], true
			}
			msg = append(msg, p...)
			if msgOp == 0x1 && e.flaw == flawNone && !textState(msg) {
				e.fail(1007)
				return
			}
			if !fin {
				continue
			}
			inMsg = false
			if msgOp == 0x1 && e.flaw != flawNoUTF8 && !utf8.Valid(msg) {
				e.fail(1007)
				return
			}
			e.write(msgOp, msg)
		}
	}
}

// closeReply answers a close frame; false when the close was invalid
// (and the connection failed).
func (e *echoConn) closeReply(p []byte) bool {
	if len(p) == 0 {
		e.write(0x8, nil)
		return true
	}
	if len(p) == 1 {
		e.fail(1002)
		return false
	}
	code := int(binary.BigEndian.Uint16(p))
	valid := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
	if !valid {
		e.fail(1002)
		return false
	}
	if !utf8.Valid(p[2:]) {
		e.fail(1007)
		return false
	}
	e.write(0x8, p[:2])
	return true
}
