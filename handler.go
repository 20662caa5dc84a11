package rawws

import "github.com/rawws/rawws/frame"

// Handler receives a session's raw frames in event mode (Options.Handler).
// Its methods run on the connection's event loop, never concurrently for
// one session, and must not block: Send and SendCopy never block in event
// mode, but Flush and CloseWith do and belong on another goroutine.
type Handler interface {
	// OnOpen runs once before any frame.
	OnOpen(s *Session)
	// OnFrame receives each frame as it arrived: fragments keep Fin=false,
	// control frames are delivered too and nothing is answered unless
	// Ponger or Pinger was set up. f.Payload is a view into the loop's
	// buffer, valid only until OnFrame returns: copy it to keep it (SendCopy
	// copies when it must).
	OnFrame(s *Session, f frame.Frame)
	// OnClose runs once when the connection is gone, with Session.Err.
	OnClose(s *Session, err error)
}

// MessageHandler receives whole messages in message mode (NewSession,
// Options.MessageHandler). The session reassembles fragments, answers pings,
// completes the close handshake and fails the connection with the RFC 6455
// close code on any protocol error; the handler only sees data. Its methods
// run on the connection's event loop, never concurrently for one session,
// and must not block.
type MessageHandler interface {
	// OnOpen runs once before any message.
	OnOpen(s *Session)
	// OnMessage receives a complete text or binary message; text is valid
	// UTF-8. payload is valid only until OnMessage returns (a view into the
	// loop's buffer or the session's reassembly buffer): copy it to keep it.
	OnMessage(s *Session, op frame.Opcode, payload []byte)
	// OnClose runs once when the connection is gone, with Session.Err: nil
	// or a *CloseError for an orderly close (see IsNormalClosure), else why
	// the session failed.
	OnClose(s *Session, err error)
}

// HandlerFuncs adapts functions to Handler; nil fields do nothing.
type HandlerFuncs struct {
	Open  func(s *Session)
	Frame func(s *Session, f frame.Frame)
	Close func(s *Session, err error)
}

// OnOpen calls h.Open if set.
func (h HandlerFuncs) OnOpen(s *Session) {
	if h.Open != nil {
		h.Open(s)
	}
}

// OnFrame calls h.Frame if set.
func (h HandlerFuncs) OnFrame(s *Session, f frame.Frame) {
	if h.Frame != nil {
		h.Frame(s, f)
	}
}

// OnClose calls h.Close if set.
func (h HandlerFuncs) OnClose(s *Session, err error) {
	if h.Close != nil {
		h.Close(s, err)
	}
}

// MessageFuncs adapts functions to MessageHandler; nil fields do nothing.
type MessageFuncs struct {
	Open    func(s *Session)
	Message func(s *Session, op frame.Opcode, payload []byte)
	Close   func(s *Session, err error)
}

// OnOpen calls h.Open if set.
func (h MessageFuncs) OnOpen(s *Session) {
	if h.Open != nil {
		h.Open(s)
	}
}

// OnMessage calls h.Message if set.
func (h MessageFuncs) OnMessage(s *Session, op frame.Opcode, payload []byte) {
	if h.Message != nil {
		h.Message(s, op, payload)
	}
}

// OnClose calls h.Close if set.
func (h MessageFuncs) OnClose(s *Session, err error) {
	if h.Close != nil {
		h.Close(s, err)
	}
}
