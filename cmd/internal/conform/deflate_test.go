package conform

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rawws/rawws/internal/deflate"
)

// deflateFlaw is one deliberate defect of the permessage-deflate test
// server.
type deflateFlaw int

const (
	dflNone           deflateFlaw = iota
	dflRSV1Anywhere               // accepts RSV1 on continuations and control frames
	dflCorrupt1011                // answers undecodable data with 1011
	dflIgnoreOffer                // answers with client_max_window_bits unoffered
	dflNoDeflate                  // never negotiates the extension
	dflPlainEchoes                // negotiates, then echoes uncompressed
	dflServerTakeover             // ignores server_no_context_takeover (keeps context)
)

// deflateServer is an echo server with permessage-deflate written for these
// tests on internal/deflate, independent of the root package.
func deflateServer(t *testing.T, fl deflateFlaw) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		p, resp, ok := deflate.Accept(strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", "), deflate.Settings{})
		switch fl {
		case dflNoDeflate:
			ok = false
		case dflIgnoreOffer:
			resp += "; client_max_window_bits=12"
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		h := sha1.Sum([]byte(key + acceptGUID))
		head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(h[:]) + "\r\n"
		if ok {
			head += "Sec-WebSocket-Extensions: " + resp + "\r\n"
		}
		_, _ = io.WriteString(c, head+"\r\n")
		dc := &deflateConn{c: c, r: rw.Reader, fl: fl}
		if ok {
			s := deflate.Settings{Threshold: -1}
			if fl == dflServerTakeover {
				p.ServerNoContextTakeover = false
			}
			dc.comp = deflate.NewCompressor(s, p, true)
			dc.dec = deflate.NewDecompressor(p, true, 16<<20)
		}
		dc.serve()
	}))
	t.Cleanup(srv.Close)
	return "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/"
}

type deflateConn struct {
	c    net.Conn
	r    *bufio.Reader
	fl   deflateFlaw
	comp *deflate.Compressor
	dec  *deflate.Decompressor
}

func (d *deflateConn) write(rsv, op byte, p []byte) {
	_, _ = d.c.Write(wframe{fin: true, rsv: rsv, op: op, payload: p, unmasked: true}.encode(nil))
}

func (d *deflateConn) fail(code int) {
	d.write(0, opClose, binary.BigEndian.AppendUint16(nil, uint16(code)))
}

func (d *deflateConn) serve() {
	var buf []byte
	var op byte
	var inMsg, z bool
	for {
		f, err := readFrame(d.r)
		if err != nil {
			return
		}
		rsv1OK := d.dec != nil && (d.fl == dflRSV1Anywhere || (f.op == opText || f.op == opBinary))
		if f.rsv != 0 && !(f.rsv == 0x40 && rsv1OK) {
			d.fail(codeProtocol)
			return
		}
		switch f.op {
		case opPing:
			d.write(0, opPong, f.payload)
			continue
		case opPong:
			continue
		case opClose:
			d.write(0, opClose, f.payload[:min(2, len(f.payload))])
			return
		case opText, opBinary:
			if inMsg {
				d.fail(codeProtocol)
				return
			}
			inMsg, op, z, buf = true, f.op, f.rsv == 0x40, buf[:0]
		case opCont:
			if !inMsg {
				d.fail(codeProtocol)
				return
			}
		}
		buf = append(buf, f.payload...)
		if !f.fin {
			continue
		}
		inMsg = false
		m := buf
		if z {
			if m, err = d.dec.AppendDecompress(nil, buf); err != nil {
				switch {
				case d.fl == dflCorrupt1011:
					d.fail(1011)
				case errors.Is(err, deflate.ErrTooBig):
					d.fail(codeTooBig)
				default:
					d.fail(codeInvalid)
				}
				return
			}
		}
		if op == opText && !utf8.Valid(m) {
			d.fail(codeInvalid)
			return
		}
		if d.comp != nil && d.fl != dflPlainEchoes {
			if out, ok, err := d.comp.Compress(nil, m); err == nil && ok {
				d.write(0x40, op, out)
				continue
			}
		}
		d.write(0, op, m)
	}
}

func TestDeflateSections(t *testing.T) {
	// Cases of 64 KiB and more only repeat what smaller ones show (and
	// cost seconds under the race detector); rawws-echo runs them all.
	light := append([]string{"12.*.7", "12.*.8", "13.*.7", "13.*.8"}, HeavyCases...)
	tests := []struct {
		name   string
		fl     deflateFlaw
		cases  []string
		failed string // exactly these cases fail
	}{
		{"conforming", dflNone, []string{"12", "13"}, ""},
		{"bomb stopped at the limit", dflNone, []string{"12.5.5"}, ""},
		{"plain echoes are fine", dflPlainEchoes, []string{"12.1", "13.*.3"}, ""},
		{"RSV1 accepted anywhere", dflRSV1Anywhere, []string{"12.5"}, "12.5.1 12.5.2"},
		// 12.5.4 inflates fine and fails on UTF-8 with 1007 regardless.
		{"1011 for corrupt data", dflCorrupt1011, []string{"12.5"}, "12.5.3"},
		// The runner offers the parameter valueless (12.*, 13.5) or with a
		// value below 12 (13.6, 13.8), or not at all.
		{"unoffered client_max_window_bits", dflIgnoreOffer, []string{"12.1.1", "13.*.1"},
			"13.1.1 13.2.1 13.3.1 13.4.1 13.6.1 13.7.1 13.8.1 13.9.1"},
		{"no extension", dflNoDeflate, []string{"12.1.1", "12.5.1", "13.1.1"}, "12.1.1 12.5.1 13.1.1"},
		// The runner's inflater keeps no window once the server agreed to
		// server_no_context_takeover: the second message refers into one
		// it does not have.
		{"context kept though agreed not to", dflServerTakeover, []string{"13.1.3", "13.3.3", "13.3.5", "13.4.5"}, "13.3.3 13.3.5 13.4.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := deflateServer(t, tt.fl)
			exclude := light
			if tt.cases[0] == "12.5.5" {
				exclude = nil
			}
			rep, err := Run(context.Background(), url, Options{Cases: tt.cases, Exclude: exclude, Deflate: true, Parallel: 4})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, r := range rep.Results {
				if r.Verdict == Failed {
					failed = append(failed, r.ID)
				}
			}
			if strings.Join(failed, " ") != tt.failed {
				var sb strings.Builder
				_ = rep.WriteText(&sb, true)
				t.Fatalf("failed %v, want %v\n%s", failed, tt.failed, sb.String())
			}
		})
	}
}

func TestDeflateNotRunByDefault(t *testing.T) {
	url := deflateServer(t, dflNone)
	rep, err := Run(context.Background(), url, Options{Cases: []string{"12", "13", "1.1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].ID != "1.1.1" {
		t.Fatalf("without Deflate ran %d cases", len(rep.Results))
	}
}
