package http

import (
	"errors"
	"strings"
	"testing"
)

// headers builds the header lookup CheckUpgrade expects from name/value
// pairs; repeated names are joined with ", " the way the contract says.
func headers(kv ...string) func(string) string {
	return func(name string) string {
		var vals []string
		for i := 0; i+1 < len(kv); i += 2 {
			if strings.EqualFold(kv[i], name) {
				vals = append(vals, kv[i+1])
			}
		}
		return strings.Join(vals, ", ")
	}
}

const sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

func TestAppendAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 §1.3 gives this exact pair.
	got := string(AppendAcceptKey(nil, sampleKey))
	if got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept = %q", got)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		var buf [32]byte
		_ = AppendAcceptKey(buf[:0], sampleKey)
	}); allocs != 0 {
		t.Fatalf("AppendAcceptKey allocates %v times", allocs)
	}
}

func TestCheckUpgrade(t *testing.T) {
	good := []string{"Host", "x", "Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", sampleKey}
	with := func(name, value string) []string {
		out := []string{}
		replaced := false
		for i := 0; i < len(good); i += 2 {
			if strings.EqualFold(good[i], name) {
				replaced = true
				if value == "\x00" {
					continue
				}
				out = append(out, good[i], value)
				continue
			}
			out = append(out, good[i], good[i+1])
		}
		if !replaced {
			out = append(out, name, value)
		}
		return out
	}
	tests := []struct {
		name   string
		method string
		h      []string
		status int // 0 = accepted
	}{
		{"valid", "GET", good, 0},
		{"token lists and case", "GET", with("Connection", "keep-alive, UPGRADE"), 0},
		{"upgrade list", "GET", with("Upgrade", "h2c , WebSocket"), 0},
		{"repeated connection header", "GET", append(with("Connection", "keep-alive"), "Connection", "upgrade"), 0},
		{"post", "POST", good, 405},
		{"no host", "GET", with("Host", "\x00"), 400},
		{"no upgrade", "GET", with("Upgrade", "\x00"), 400},
		{"upgrade other", "GET", with("Upgrade", "h2c"), 400},
		{"connection without upgrade", "GET", with("Connection", "keep-alive"), 400},
		{"version 8", "GET", with("Sec-WebSocket-Version", "8"), 426},
		{"no version", "GET", with("Sec-WebSocket-Version", "\x00"), 426},
		{"no key", "GET", with("Sec-WebSocket-Key", "\x00"), 400},
		{"short key", "GET", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZQ=="), 400},
		{"not base64", "GET", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ!=="), 400},
		{"17 bytes", "GET", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZXg="), 400},
		{"stray bits", "GET", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR=="), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, err := CheckUpgrade(tc.method, headers(tc.h...))
			if tc.status == 0 {
				if err != nil || key != sampleKey {
					t.Fatalf("got %q, %v", key, err)
				}
				return
			}
			var ue *UpgradeError
			if !errors.As(err, &ue) || !errors.Is(err, ErrBadUpgrade) {
				t.Fatalf("err = %v, want *UpgradeError wrapping ErrBadUpgrade", err)
			}
			if ue.Status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", ue.Status, tc.status, err)
			}
		})
	}
}

func TestIsWebSocketUpgrade(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"websocket", true}, {"WebSocket", true}, {"foo, websocket ", true}, {"", false}, {"websockets", false}, {"h2c", false}} {
		if got := IsWebSocketUpgrade(headers("Upgrade", tc.v)); got != tc.want {
			t.Errorf("%q: got %v", tc.v, got)
		}
	}
}

func TestAppendSwitchingProtocols(t *testing.T) {
	got := string(AppendSwitchingProtocols(nil, UpgradeResponse{
		Key: sampleKey, Protocol: "chat", Extensions: "permessage-deflate",
		Header: [][2]string{{"X-A", "1"}, {"X-Bad", "a\r\nInjected: 1"}},
	}))
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate\r\n" +
		"X-A: 1\r\n\r\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	plain := string(AppendSwitchingProtocols(nil, UpgradeResponse{Key: sampleKey}))
	if strings.Contains(plain, "Sec-WebSocket-Protocol") || strings.Contains(plain, "Sec-WebSocket-Extensions") || !strings.HasSuffix(plain, "\r\n\r\n") {
		t.Fatalf("plain response: %q", plain)
	}
}

func TestAppendUpgradeError(t *testing.T) {
	for _, tc := range []struct {
		err     error
		line    string
		version bool
	}{
		{&UpgradeError{Status: 426, Reason: "v"}, "HTTP/1.1 426 Upgrade Required\r\n", true},
		{&UpgradeError{Status: 405, Reason: "m"}, "HTTP/1.1 405 Method Not Allowed\r\n", false},
		{&UpgradeError{Status: 403, Reason: "o"}, "HTTP/1.1 403 Forbidden\r\n", false},
		{errors.New("other"), "HTTP/1.1 400 Bad Request\r\n", false},
	} {
		got := string(AppendUpgradeError(nil, tc.err))
		if !strings.HasPrefix(got, tc.line) {
			t.Errorf("%v: %q", tc.err, got)
		}
		if strings.Contains(got, "Sec-WebSocket-Version: 13\r\n") != tc.version {
			t.Errorf("%v: version header presence wrong: %q", tc.err, got)
		}
		head, body, ok := strings.Cut(got, "\r\n\r\n")
		if !ok || !strings.Contains(head, "Connection: close") {
			t.Fatalf("%q", got)
		}
		if !strings.Contains(head, "Content-Length: "+itoa(len(body))) {
			t.Errorf("content length wrong: %q", got)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestChooseSubprotocol(t *testing.T) {
	for _, tc := range []struct {
		offered   string
		supported []string
		want      string
	}{
		{"chat, superchat", []string{"superchat", "chat"}, "superchat"},
		{"chat", []string{"Chat"}, ""},
		{"", []string{"chat"}, ""},
		{"a,b", nil, ""},
		{" b ,a", []string{"a", "b"}, "a"},
	} {
		if got := ChooseSubprotocol(tc.offered, tc.supported); got != tc.want {
			t.Errorf("%q %v: got %q want %q", tc.offered, tc.supported, got, tc.want)
		}
	}
}

func FuzzCheckUpgrade(f *testing.F) {
	f.Add("GET", "websocket", "Upgrade", "13", sampleKey)
	f.Add("GET", "WebSocket, x", "keep-alive,upgrade", "13", "AAAAAAAAAAAAAAAAAAAAAA==")
	f.Add("POST", "", "", "", "")
	f.Fuzz(func(t *testing.T, method, upgrade, connection, version, key string) {
		k, err := CheckUpgrade(method, headers("Host", "h", "Upgrade", upgrade, "Connection", connection,
			"Sec-WebSocket-Version", version, "Sec-WebSocket-Key", key))
		if err != nil {
			if !errors.Is(err, ErrBadUpgrade) {
				t.Fatalf("error does not wrap ErrBadUpgrade: %v", err)
			}
			resp := AppendUpgradeError(nil, err)
			if strings.Count(string(resp), "\r\n\r\n") < 1 {
				t.Fatalf("bad error response %q", resp)
			}
			return
		}
		if len(AppendAcceptKey(nil, k)) != 28 {
			t.Fatal("accept key length")
		}
	})
}
