package deflate

import (
	"errors"
	"testing"
)

func TestAccept(t *testing.T) {
	tests := []struct {
		name   string
		header string
		s      Settings
		ok     bool
		resp   string
		p      Params
	}{
		{"empty header", "", Settings{}, false, "", Params{}},
		{"other extension only", "x-webkit-deflate-frame", Settings{}, false, "", Params{}},
		{"plain", "permessage-deflate", Settings{}, true, "permessage-deflate", Params{}},
		{"browser offer", "permessage-deflate; client_max_window_bits", Settings{}, true, "permessage-deflate", Params{}},
		{"case and spaces", " Permessage-Deflate ;  Client_Max_Window_Bits ", Settings{}, true, "permessage-deflate", Params{}},
		{"after another extension", "x-webkit-deflate-frame, permessage-deflate", Settings{}, true, "permessage-deflate", Params{}},
		{"server limits client window", "permessage-deflate; client_max_window_bits", Settings{ClientMaxWindowBits: 10}, true,
			"permessage-deflate; client_max_window_bits=10", Params{ClientMaxWindowBits: 10}},
		{"client window already smaller", "permessage-deflate; client_max_window_bits=9", Settings{ClientMaxWindowBits: 10}, true,
			"permessage-deflate", Params{}},
		{"client window limited below offer", "permessage-deflate; client_max_window_bits=12", Settings{ClientMaxWindowBits: 8}, true,
			"permessage-deflate; client_max_window_bits=8", Params{ClientMaxWindowBits: 8}},
		{"client limit needs the offer", "permessage-deflate", Settings{ClientMaxWindowBits: 10}, true, "permessage-deflate", Params{}},
		{"quoted client bits", `permessage-deflate; client_max_window_bits="10"`, Settings{}, true, "permessage-deflate", Params{}},
		{"server_no_context_takeover asked", "permessage-deflate; server_no_context_takeover", Settings{}, true,
			"permessage-deflate; server_no_context_takeover", Params{ServerNoContextTakeover: true}},
		{"server_no_context_takeover by setting", "permessage-deflate", Settings{ServerNoContextTakeover: true}, true,
			"permessage-deflate; server_no_context_takeover", Params{ServerNoContextTakeover: true}},
		{"client_no_context_takeover hint confirmed", "permessage-deflate; client_no_context_takeover", Settings{}, true,
			"permessage-deflate; client_no_context_takeover", Params{ClientNoContextTakeover: true}},
		{"client_no_context_takeover by setting", "permessage-deflate", Settings{ClientNoContextTakeover: true}, true,
			"permessage-deflate; client_no_context_takeover", Params{ClientNoContextTakeover: true}},
		{"server window 15 echoed", "permessage-deflate; server_max_window_bits=15", Settings{}, true,
			"permessage-deflate; server_max_window_bits=15", Params{ServerMaxWindowBits: 15}},
		{"server window 10 drops takeover", "permessage-deflate; server_max_window_bits=10", Settings{}, true,
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
			Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 10}},
		{"server window 8", "permessage-deflate; server_max_window_bits=8", Settings{}, true,
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=8",
			Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 8}},
		{"server window by setting", "permessage-deflate", Settings{ServerMaxWindowBits: 12}, true,
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
			Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 12}},
		{"server window smaller of both", "permessage-deflate; server_max_window_bits=11", Settings{ServerMaxWindowBits: 13}, true,
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
			Params{ServerNoContextTakeover: true, ServerMaxWindowBits: 11}},
		{"all parameters", "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9",
			Settings{}, true,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
			Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 9}},
		{"first acceptable of several", "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits", Settings{}, true,
			"permessage-deflate", Params{}},
		{"quoted comma does not split", `permessage-deflate; client_max_window_bits="1,0", permessage-deflate; server_no_context_takeover`, Settings{}, true,
			"permessage-deflate; server_no_context_takeover", Params{ServerNoContextTakeover: true}},
		// Every one of these is declined (skipped), never an error.
		{"window bits 7", "permessage-deflate; server_max_window_bits=7", Settings{}, false, "", Params{}},
		{"window bits 16", "permessage-deflate; client_max_window_bits=16", Settings{}, false, "", Params{}},
		{"leading zero", "permessage-deflate; server_max_window_bits=010", Settings{}, false, "", Params{}},
		{"sign", "permessage-deflate; server_max_window_bits=+10", Settings{}, false, "", Params{}},
		{"not a number", "permessage-deflate; client_max_window_bits=abc", Settings{}, false, "", Params{}},
		{"empty value", "permessage-deflate; client_max_window_bits=", Settings{}, false, "", Params{}},
		{"server bits without value", "permessage-deflate; server_max_window_bits", Settings{}, false, "", Params{}},
		{"takeover with value", "permessage-deflate; server_no_context_takeover=1", Settings{}, false, "", Params{}},
		{"client takeover with value", "permessage-deflate; client_no_context_takeover=true", Settings{}, false, "", Params{}},
		{"duplicate flag", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", Settings{}, false, "", Params{}},
		{"duplicate bits", "permessage-deflate; client_max_window_bits; client_max_window_bits=10", Settings{}, false, "", Params{}},
		{"unknown parameter", "permessage-deflate; foo", Settings{}, false, "", Params{}},
		{"empty parameter", "permessage-deflate;", Settings{}, false, "", Params{}},
		{"bad quoting", `permessage-deflate; client_max_window_bits="10`, Settings{}, false, "", Params{}},
		{"bad name", "permessage deflate", Settings{}, false, "", Params{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, resp, ok := Accept(tt.header, tt.s)
			if ok != tt.ok || resp != tt.resp || p != tt.p {
				t.Fatalf("Accept(%q) = %+v, %q, %v; want %+v, %q, %v", tt.header, p, resp, ok, tt.p, tt.resp, tt.ok)
			}
		})
	}
}

func TestOffer(t *testing.T) {
	tests := []struct {
		s    Settings
		want string
	}{
		{Settings{}, "permessage-deflate"},
		{Settings{ClientMaxWindowBits: 15}, "permessage-deflate; client_max_window_bits"},
		{Settings{ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=10"},
		{Settings{ClientMaxWindowBits: 7}, "permessage-deflate"},
		{Settings{ServerMaxWindowBits: 9}, "permessage-deflate; server_max_window_bits=9"},
		{Settings{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
	}
	for _, tt := range tests {
		if got := Offer(tt.s); got != tt.want {
			t.Errorf("Offer(%+v) = %q, want %q", tt.s, got, tt.want)
		}
		// Our own server accepts every offer our client makes.
		if _, _, ok := Accept(tt.want, Settings{}); !ok {
			t.Errorf("Accept(%q) declined our own offer", tt.want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		resp string
		ok   bool
		p    Params
		bad  bool
	}{
		{"no extension", Settings{}, "", false, Params{}, false},
		{"plain", Settings{}, "permessage-deflate", true, Params{}, false},
		{"server adds server_no_context_takeover", Settings{}, "permessage-deflate; server_no_context_takeover", true,
			Params{ServerNoContextTakeover: true}, false},
		{"server adds client_no_context_takeover", Settings{}, "permessage-deflate; client_no_context_takeover", true,
			Params{ClientNoContextTakeover: true}, false},
		{"server adds its window", Settings{}, "permessage-deflate; server_max_window_bits=10", true,
			Params{ServerMaxWindowBits: 10}, false},
		{"client window when offered", Settings{ClientMaxWindowBits: 15}, "permessage-deflate; client_max_window_bits=10", true,
			Params{ClientMaxWindowBits: 10}, false},
		{"client window as offered", Settings{ClientMaxWindowBits: 12}, "permessage-deflate; client_max_window_bits=12", true,
			Params{ClientMaxWindowBits: 12}, false},
		{"own client window kept", Settings{ClientMaxWindowBits: 12}, "permessage-deflate", true,
			Params{ClientMaxWindowBits: 12}, false},
		{"own client takeover kept", Settings{ClientNoContextTakeover: true}, "permessage-deflate", true,
			Params{ClientNoContextTakeover: true}, false},
		{"asked server takeover granted", Settings{ServerNoContextTakeover: true}, "permessage-deflate; server_no_context_takeover", true,
			Params{ServerNoContextTakeover: true}, false},
		{"asked server window granted smaller", Settings{ServerMaxWindowBits: 12}, "permessage-deflate; server_max_window_bits=9", true,
			Params{ServerMaxWindowBits: 9}, false},
		{"quoted", Settings{}, `permessage-deflate; server_max_window_bits="10"`, true, Params{ServerMaxWindowBits: 10}, false},
		{"client window not offered", Settings{}, "permessage-deflate; client_max_window_bits=10", false, Params{}, true},
		{"client window valueless", Settings{ClientMaxWindowBits: 15}, "permessage-deflate; client_max_window_bits", false, Params{}, true},
		{"client window above offer", Settings{ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=12", false, Params{}, true},
		{"server window above offer", Settings{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=12", false, Params{}, true},
		{"server window left out", Settings{ServerMaxWindowBits: 10}, "permessage-deflate", false, Params{}, true},
		{"server takeover left out", Settings{ServerNoContextTakeover: true}, "permessage-deflate", false, Params{}, true},
		{"server window out of range", Settings{}, "permessage-deflate; server_max_window_bits=16", false, Params{}, true},
		{"server window without value", Settings{}, "permessage-deflate; server_max_window_bits", false, Params{}, true},
		{"duplicate", Settings{}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, Params{}, true},
		{"unknown parameter", Settings{}, "permessage-deflate; foo=1", false, Params{}, true},
		{"flag with value", Settings{}, "permessage-deflate; client_no_context_takeover=1", false, Params{}, true},
		{"two elements", Settings{}, "permessage-deflate, permessage-deflate", false, Params{}, true},
		{"not offered extension", Settings{}, "x-webkit-deflate-frame", false, Params{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok, err := ParseResponse(tt.resp, tt.s)
			if tt.bad {
				if !errors.Is(err, ErrBadResponse) || ok {
					t.Fatalf("ParseResponse(%q) = %+v, %v, %v; want ErrBadResponse", tt.resp, p, ok, err)
				}
				return
			}
			if err != nil || ok != tt.ok || p != tt.p {
				t.Fatalf("ParseResponse(%q) = %+v, %v, %v; want %+v, %v", tt.resp, p, ok, err, tt.p, tt.ok)
			}
		})
	}
}

// TestNegotiateBothSides runs every combination of client and server
// settings through Offer, Accept and ParseResponse: our client must accept
// whatever our server answers.
func TestNegotiateBothSides(t *testing.T) {
	bits := []int{0, 8, 12, 15}
	for _, cs := range []bool{false, true} {
		for _, cc := range []bool{false, true} {
			for _, cb := range bits {
				for _, sb := range bits {
					for _, srvBits := range bits {
						client := Settings{ServerNoContextTakeover: cs, ClientNoContextTakeover: cc, ClientMaxWindowBits: cb, ServerMaxWindowBits: sb}
						server := Settings{ClientMaxWindowBits: srvBits, ServerMaxWindowBits: srvBits}
						sp, resp, ok := Accept(Offer(client), server)
						if !ok {
							t.Fatalf("server declined %q", Offer(client))
						}
						cp, ok, err := ParseResponse(resp, client)
						if err != nil || !ok {
							t.Fatalf("offer %q, response %q: %v", Offer(client), resp, err)
						}
						if cp.ServerNoContextTakeover != sp.ServerNoContextTakeover {
							t.Fatalf("offer %q, response %q: takeover views differ", Offer(client), resp)
						}
					}
				}
			}
		}
	}
}
