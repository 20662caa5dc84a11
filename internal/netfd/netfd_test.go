package netfd

import (
	"crypto/tls"
	"net"
	"testing"
)

func TestHas(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !Has(ln) {
		t.Error("a TCP listener has a descriptor")
	}
	if Has(tls.NewListener(ln, &tls.Config{})) {
		t.Error("a TLS listener has none to watch")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Has(a) {
		t.Error("net.Pipe has no descriptor")
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !Has(c) {
		t.Error("a TCP connection has a descriptor")
	}
	if Has(tls.Client(c, &tls.Config{})) {
		t.Error("a *tls.Conn has none to watch")
	}
}
