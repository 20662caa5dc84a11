package rawws

import (
	"errors"
	"net/http/httptest"
	"testing"
)

// One CheckOrigin rule for both upgrades: no Origin is accepted without a
// call, CheckOrigin decides the others, and without it the Origin's host
// must be the request's Host (a default port may be left out).
func TestOriginAllowed(t *testing.T) {
	called := false
	yes := func(string) bool { called = true; return true }
	cases := []struct {
		origin, host string
		check        func(string) bool
		want         bool
	}{
		{"", "example.com", nil, true},
		{"http://example.com", "example.com", nil, true},
		{"http://example.com", "example.com:80", nil, true},
		{"https://example.com", "example.com:443", nil, true},
		{"http://evil.example", "example.com", nil, false},
		{"http://evil.example", "example.com", yes, true},
		{"%", "example.com", nil, false},
	}
	for _, tc := range cases {
		if got := originAllowed(tc.origin, tc.host, tc.check); got != tc.want {
			t.Errorf("originAllowed(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
	called = false
	originAllowed("", "example.com", yes)
	if called {
		t.Error("CheckOrigin called for a request without Origin")
	}
}

// Handler and MessageHandler together are an error, not a silent choice.
func TestUpgradeHTTPRefusesBothHandlers(t *testing.T) {
	w := httptest.NewRecorder()
	_, err := UpgradeHTTP(w, httptest.NewRequest("GET", "/", nil), UpgradeOptions{Options: Options{MessageHandler: echoMessages, Handler: HandlerFuncs{}}})
	if !errors.Is(err, ErrInvalidArgument) || w.Code != 500 {
		t.Fatalf("UpgradeHTTP = %v, status %d; want ErrInvalidArgument and 500", err, w.Code)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewRawSession accepted both handlers")
		}
	}()
	NewRawSession(&fakeConn{}, Options{MessageHandler: echoMessages, Handler: HandlerFuncs{}})
}
