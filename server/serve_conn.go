package server

import (
	"fmt"
	"net"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/internal/netfd"
	"github.com/rawws/rawws/poller"
)

// ServeConn serves one connection accepted elsewhere (your own accept
// loop, a proxy hand-off): it moves c onto the server's engine and runs
// the server's HTTP pipeline and routes on it, WebSocket handshakes
// included, exactly as for a connection Serve accepted. buffered holds
// bytes already read from c (what a bufio.Reader held, a sniffed prefix);
// they are parsed first. A connection no event loop can take (a
// *tls.Conn, any net.Conn without a socket descriptor) is served on the
// std backend's shared engine (rawws.EngineFor) instead: one goroutine per
// connection, through the wrapper, the same routes and drain. On success
// the server owns c (Shutdown drains it); on error c is closed, and after
// Shutdown the error is ErrServerClosed. It does not block.
func (s *Server) ServeConn(c net.Conn, buffered []byte) error {
	if s.closing.Load() {
		c.Close()
		return ErrServerClosed
	}
	eng := s.eng
	if eng.Name() != goroutineBackend && !netfd.Has(c) {
		var err error
		if eng, err = rawws.EngineFor(goroutineBackend); err != nil {
			c.Close()
			return fmt.Errorf("rawws: serve conn: %T has no descriptor for an event loop: %w", c, err)
		}
	}
	if _, err := eng.Adopt(c, buffered, adopted{s}); err != nil {
		c.Close()
		return fmt.Errorf("rawws: serve conn: %w", err)
	}
	return nil
}

// adopted receives an adopted connection's first event and hands the
// connection to the HTTP server; bytes it leaves unconsumed go to the
// HTTP pipeline (SetHandler offers them at once).
type adopted struct{ s *Server }

func (a adopted) OnOpen(c poller.Conn)           { a.s.http.ServeConn(c) }
func (a adopted) OnData(poller.Conn, []byte) int { return 0 }
func (a adopted) OnClose(poller.Conn, error)     {}
