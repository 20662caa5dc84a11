package std_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/rawws/rawws/poller"
)

// handler is a poller.Handler from functions.
type handler struct {
	data  func(c poller.Conn, b []byte) int
	close func(c poller.Conn, err error)
}

func (h handler) OnOpen(poller.Conn) {}
func (h handler) OnData(c poller.Conn, b []byte) int {
	if h.data == nil {
		return len(b)
	}
	return h.data(c, b)
}
func (h handler) OnClose(c poller.Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

func echo() handler {
	return handler{data: func(c poller.Conn, b []byte) int { c.Write(b); return len(b) }}
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLS serves a TLS listener: the std backend runs any net.Conn.
func TestTLS(t *testing.T) {
	eng := newEngine(t, poller.Config{})
	defer eng.Close()
	cert := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go eng.Serve(ln, echo())
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 100<<10)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go c.Write(msg)
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != msg[i] {
			t.Fatalf("byte %d differs", i)
		}
	}
}

// TestPipe covers what only a pipe shows: CloseWrite is unsupported, and a
// paused connection stops reading so the peer's Write blocks.
func TestPipe(t *testing.T) {
	eng := newEngine(t, poller.Config{})
	defer eng.Close()
	a, b := net.Pipe()
	defer b.Close()
	got := make(chan []byte, 4)
	pc, err := eng.Adopt(a, nil, handler{data: func(_ poller.Conn, p []byte) int {
		got <- append([]byte(nil), p...)
		return len(p)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CloseWrite on a pipe = %v, want ErrUnsupported", err)
	}
	pc.PauseRead()
	// The reader may already sit in Read: one write can get through.
	b.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n1, _ := b.Write([]byte("1"))
	b.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := b.Write([]byte("2")); !isTimeout(err) {
		t.Fatalf("write to a paused pipe = %v, want a timeout", err)
	}
	select {
	case p := <-got:
		t.Fatalf("OnData(%q) while paused", p)
	default:
	}
	pc.ResumeRead()
	b.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Write([]byte("3")); err != nil {
		t.Fatal(err)
	}
	want := "3"
	if n1 == 1 {
		want = "13"
	}
	var all string
	for len(all) < len(want) {
		select {
		case p := <-got:
			all += string(p)
		case <-time.After(5 * time.Second):
			t.Fatalf("after resume got %q, want %q", all, want)
		}
	}
	if all != want {
		t.Fatalf("after resume got %q, want %q", all, want)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestWriteAllocs: queuing a small write reuses pooled chunks.
func TestWriteAllocs(t *testing.T) {
	eng := newEngine(t, poller.Config{})
	defer eng.Close()
	a, b := net.Pipe()
	defer b.Close()
	go io.Copy(io.Discard, b)
	pc, err := eng.Adopt(a, nil, handler{})
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 128)
	pc.Write(msg)
	allocs := testing.AllocsPerRun(200, func() {
		pc.Write(msg)
	})
	// The writer goroutine starts per burst (a goroutine is not counted
	// here unless its stack grows), and chunks come from a pool.
	if allocs > 1 {
		t.Fatalf("Write allocates %v times", allocs)
	}
}
