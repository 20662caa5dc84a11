package rawws

import (
	nethttp "net/http"
)

// UpgradeHTTP is the package's UpgradeHTTP for servers built on net/http
// that want this Server's graceful drain and metrics for their WebSocket
// sessions: the session is upgraded the same way (no goroutine left per
// connection in event modes; bytes pipelined behind the request kept),
// runs on the server's engine unless opts names another (or on the std
// backend's shared engine when the connection has no descriptor an event
// loop could take, as behind net/http's TLS server: see UpgradeHTTP), and
// is tracked until it ends, so Shutdown sends it Close 1001 and waits for it. A
// channel-mode session costs one goroutine that waits for its end. During
// a shutdown the request is answered 503 and ErrServerClosed returned.
func (s *Server) UpgradeHTTP(w nethttp.ResponseWriter, r *nethttp.Request, opts UpgradeOptions) (*Session, error) {
	s.m.requests.Add(1)
	if s.closing.Load() {
		s.m.handshakeFailed.Add(1)
		nethttp.Error(w, "server shutting down", nethttp.StatusServiceUnavailable)
		return nil, ErrServerClosed
	}
	if opts.Engine == nil && opts.Backend == "" {
		opts.Engine = s.eng
	}
	ep := newEndpoint(s, Endpoint{Options: opts.Options})
	opts.Options = ep.e.Options
	sess, err := UpgradeHTTP(w, r, opts)
	if err != nil {
		s.m.handshakeFailed.Add(1)
		return nil, err
	}
	s.m.upgraded.Add(1)
	if sess.mode == modeChannel {
		s.register(sess)
		go func() {
			<-sess.Done()
			s.unregister(sess, sess.Err())
		}()
	}
	return sess, nil
}
