package rawws

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/frame"
	"github.com/rawws/rawws/poller"
)

// identityCase is one path by which a session hands an error out: got
// returns the error; it must match every error in want (errors.Is), the
// root sentinel and the cause that led to it.
type identityCase struct {
	name string
	got  func(t *testing.T) error
	want []error
	// sentinel is the exported root sentinel the row stands for.
	sentinel error
}

// recordingHandler keeps the error its OnClose was given.
type recordingHandler struct {
	mu  sync.Mutex
	err error
	end chan struct{}
}

func newRecording() *recordingHandler { return &recordingHandler{end: make(chan struct{})} }

func (h *recordingHandler) frames() HandlerFuncs {
	return HandlerFuncs{Close: func(s *Session, err error) { h.mu.Lock(); h.err = err; h.mu.Unlock(); close(h.end) }}
}

func (h *recordingHandler) messages() MessageFuncs {
	return MessageFuncs{Close: func(s *Session, err error) { h.mu.Lock(); h.err = err; h.mu.Unlock(); close(h.end) }}
}

func (h *recordingHandler) closeErr(t *testing.T) error {
	t.Helper()
	select {
	case <-h.end:
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose did not run")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// busy makes the session's writer look busy, so frames wait in its queue.
func busy(s *Session) {
	s.mu.Lock()
	s.writing = true
	s.mu.Unlock()
}

// waitErr waits until the session has a recorded cause.
func waitErr(t *testing.T, s *Session) error {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if err := s.Err(); err != nil {
			return err
		}
	}
	t.Fatal("the session never failed")
	return nil
}

// tooBig is a session that failed on a frame over its MaxFrameSize.
func tooBig(h Handler) *Session {
	fc := &fakeConn{}
	s := NewRawSession(fc, Options{Handler: h, MaxFrameSize: 4})
	s.onData(fc, encodeFrame(true, frame.OpBinary, []byte("too long"), true))
	return s
}

// msgTooBig is a message session that failed on a message over its
// MaxMessageSize.
func msgTooBig(h MessageHandler) *Session {
	fc := &fakeConn{}
	s := NewSession(fc, Options{MaxMessageSize: 8, MaxFrameSize: 100}, h)
	in := append(encodeFrame(false, frame.OpBinary, []byte("12345"), true), encodeFrame(true, frame.OpContinuation, []byte("67890"), true)...)
	s.onData(fc, in)
	return s
}

// pingTimedOut is a session whose Pinger got no pong.
func pingTimedOut(t *testing.T, h Handler) *Session {
	s := NewRawSession(&fakeConn{}, Options{Handler: h})
	if _, err := Pinger(s, 5*time.Millisecond, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitErr(t, s)
	return s
}

// closeTimedOut is a terminated session whose peer never closed.
func closeTimedOut(t *testing.T, h Handler) *Session {
	s := NewRawSession(&fakeConn{}, Options{Handler: h, CloseTimeout: 5 * time.Millisecond})
	s.Terminate()
	waitErr(t, s)
	return s
}

// queueFullClosed is an event session closed by QueueFullClose.
func queueFullClosed(h Handler) (*Session, error) {
	s := NewRawSession(&fakeConn{}, Options{Handler: h, OutgoingFrames: 1, QueueFull: QueueFullClose})
	busy(s)
	s.SendText(context.Background(), "1")
	return s, s.SendText(context.Background(), "2")
}

// flushInterrupted starts a Flush that cannot finish (the peer reads
// nothing), closes the session with cause, and returns the Flush's error.
func flushInterrupted(t *testing.T, eng poller.Engine, cause error) error {
	srv := startServer(t, eng, UpgradeOptions{})
	dialRaw(t, srv.Addr) // never reads
	s := srv.next(t)
	if err := s.SendBinary(ctx5(t), make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- s.Flush(ctx5(t)) }()
	time.Sleep(50 * time.Millisecond)
	s.Close(cause)
	select {
	case err := <-res:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Flush did not return after Close")
		return nil
	}
}

// Every error a session returns keeps its identity: it matches the root
// sentinel it is documented to be, and the cause that led to it
// (errors.Is), through every path that returns it.
func TestErrorIdentity(t *testing.T) {
	cause := errors.New("the application's cause")
	bg := context.Background()
	cases := []identityCase{
		{name: "Send after Terminate", sentinel: ErrClosed, want: []error{ErrClosed}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{})
			s.Terminate()
			return s.SendText(bg, "x")
		}},
		{name: "Send after Close(cause)", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{})
			s.Close(cause)
			return s.SendText(bg, "x")
		}},
		{name: "Outgoing-free SendCopy after Close(cause)", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{Handler: HandlerFuncs{}})
			s.Close(cause)
			return s.SendCopy(bg, frame.Frame{Fin: true, Opcode: frame.OpBinary, Payload: []byte("x")})
		}},
		{name: "Send blocked on a full queue, woken by Close(cause)", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{OutgoingFrames: 1})
			busy(s)
			s.SendText(bg, "1")
			res := make(chan error, 1)
			go func() { res <- s.SendText(bg, "2") }()
			time.Sleep(20 * time.Millisecond)
			s.Close(cause)
			select {
			case err := <-res:
				return err
			case <-time.After(5 * time.Second):
				t.Fatal("Send still blocked after Close")
				return nil
			}
		}},
		{name: "SendClose after Close(cause)", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{Handler: HandlerFuncs{}})
			s.Close(cause)
			return s.SendClose(frame.CloseReason{Code: frame.CloseNormal})
		}},
		{name: "CloseWith after Close(cause)", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{})
			s.Close(cause)
			return s.CloseWith(bg, frame.CloseReason{Code: frame.CloseNormal})
		}},
		{name: "Pinger on an ended session", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{})
			s.Close(cause)
			_, err := Pinger(s, time.Second, time.Second)
			return err
		}},
		{name: "Err after Close(cause)", want: []error{cause}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{})
			s.Close(cause)
			return s.Err()
		}},
		{name: "OnClose after Close(cause)", want: []error{cause}, got: func(t *testing.T) error {
			h := newRecording()
			s := NewRawSession(&fakeConn{}, Options{Handler: h.frames()})
			s.Close(cause)
			return h.closeErr(t)
		}},
		{name: "Send after the peer's Close", sentinel: ErrClosed, want: []error{ErrClosed}, got: func(t *testing.T) error {
			fc := &fakeConn{}
			s := NewSession(fc, Options{}, MessageFuncs{})
			s.onData(fc, encodeFrame(true, frame.OpClose, closePayload(frame.CloseGoingAway, "bye"), true))
			err := s.SendText(bg, "x")
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != frame.CloseGoingAway {
				t.Errorf("%v does not carry the peer's CloseError", err)
			}
			return err
		}},
		{name: "Err: frame too big", sentinel: ErrFrameTooBig, want: []error{ErrFrameTooBig}, got: func(t *testing.T) error {
			return tooBig(HandlerFuncs{}).Err()
		}},
		{name: "Send after frame too big", sentinel: ErrClosed, want: []error{ErrClosed, ErrFrameTooBig}, got: func(t *testing.T) error {
			return tooBig(HandlerFuncs{}).SendText(bg, "x")
		}},
		{name: "OnClose: frame too big", want: []error{ErrFrameTooBig}, got: func(t *testing.T) error {
			h := newRecording()
			s := tooBig(h.frames())
			s.Conn().Close()
			return h.closeErr(t)
		}},
		{name: "Err: message too big", sentinel: ErrMessageTooBig, want: []error{ErrMessageTooBig}, got: func(t *testing.T) error {
			return msgTooBig(MessageFuncs{}).Err()
		}},
		{name: "OnClose: message too big", want: []error{ErrMessageTooBig}, got: func(t *testing.T) error {
			h := newRecording()
			s := msgTooBig(h.messages())
			s.Conn().Close()
			return h.closeErr(t)
		}},
		{name: "Send at the cap", sentinel: ErrQueueFull, want: []error{ErrQueueFull}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{Handler: HandlerFuncs{}, OutgoingFrames: 1})
			busy(s)
			s.SendText(bg, "1")
			return s.SendText(bg, "2")
		}},
		{name: "Send at the cap, QueueFullClose", sentinel: ErrQueueFull, want: []error{ErrQueueFull}, got: func(t *testing.T) error {
			_, err := queueFullClosed(HandlerFuncs{})
			return err
		}},
		{name: "Err after QueueFullClose", want: []error{ErrQueueFull}, got: func(t *testing.T) error {
			s, _ := queueFullClosed(HandlerFuncs{})
			return s.Err()
		}},
		{name: "Err: ping timeout", sentinel: ErrPingTimeout, want: []error{ErrPingTimeout}, got: func(t *testing.T) error {
			return pingTimedOut(t, HandlerFuncs{}).Err()
		}},
		{name: "Send after ping timeout", want: []error{ErrClosed, ErrPingTimeout}, got: func(t *testing.T) error {
			return pingTimedOut(t, HandlerFuncs{}).SendText(bg, "x")
		}},
		{name: "Err: close timeout", sentinel: ErrCloseTimeout, want: []error{ErrCloseTimeout}, got: func(t *testing.T) error {
			return closeTimedOut(t, HandlerFuncs{}).Err()
		}},
		{name: "OnClose: close timeout", want: []error{ErrCloseTimeout}, got: func(t *testing.T) error {
			h := newRecording()
			closeTimedOut(t, h.frames())
			return h.closeErr(t)
		}},
		{name: "Send of a frame RFC 6455 forbids", sentinel: ErrInvalidFrame, want: []error{ErrInvalidFrame}, got: func(t *testing.T) error {
			s := NewRawSession(&fakeConn{}, Options{})
			return s.Send(bg, frame.Frame{Fin: true, Opcode: frame.OpPing, Payload: make([]byte, 200)})
		}},
		{name: "CloseWith a reason that cannot be sent", sentinel: ErrInvalidFrame, want: []error{ErrInvalidFrame, frame.ErrInvalidCloseReason}, got: func(t *testing.T) error {
			return NewRawSession(&fakeConn{}, Options{}).CloseWith(bg, frame.CloseReason{Code: 1006})
		}},
		{name: "SendClose a reason that cannot be sent", sentinel: ErrInvalidFrame, want: []error{ErrInvalidFrame, frame.ErrInvalidCloseReason}, got: func(t *testing.T) error {
			return NewRawSession(&fakeConn{}, Options{Handler: HandlerFuncs{}}).SendClose(frame.CloseReason{Code: 1006})
		}},
		{name: "Pinger with a zero period", sentinel: ErrInvalidArgument, want: []error{ErrInvalidArgument}, got: func(t *testing.T) error {
			_, err := Pinger(NewRawSession(&fakeConn{}, Options{}), 0, time.Second)
			return err
		}},
		{name: "SendPrepared after Release", sentinel: ErrPreparedReleased, want: []error{ErrPreparedReleased}, got: func(t *testing.T) error {
			pf := NewPreparedFrame(frame.Frame{Fin: true, Opcode: frame.OpText, Payload: []byte("x")})
			pf.Release()
			return NewRawSession(&fakeConn{}, Options{}).SendPrepared(bg, pf)
		}},
		{name: "Publish of a control frame", sentinel: ErrNotData, want: []error{ErrNotData}, got: func(t *testing.T) error {
			return NewHub(HubOptions{}).Publish("t", frame.OpPing, nil)
		}},
		{name: "UpgradeHTTP into a drained group", sentinel: ErrDraining, want: []error{ErrDraining}, got: func(t *testing.T) error {
			g := &Group{}
			g.Drain(bg)
			r := httptest.NewRequest("GET", "/", nil)
			_, err := UpgradeHTTP(httptest.NewRecorder(), r, UpgradeOptions{Options: Options{Group: g}})
			return err
		}},
		{name: "OnClose after a drain deadline", sentinel: ErrShutdownTimeout, want: []error{ErrShutdownTimeout}, got: func(t *testing.T) error {
			h := newRecording()
			g := &Group{}
			NewRawSession(&fakeConn{}, Options{Group: g, MessageHandler: h.messages()}) // never answers the drain's Close
			ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
			defer cancel()
			g.Drain(ctx)
			return h.closeErr(t)
		}},
		{name: "Dial: bad URL", sentinel: ErrBadURL, want: []error{ErrBadURL}, got: func(t *testing.T) error {
			_, _, err := Dial(bg, "http://127.0.0.1:1/", DialOptions{})
			return err
		}},
		{name: "Dial: not a WebSocket server", sentinel: ErrHandshake, want: []error{ErrHandshake}, got: func(t *testing.T) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {})}
			go hs.Serve(ln)
			defer hs.Close()
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			_, _, err = Dial(ctx, "ws://"+ln.Addr().String()+"/", DialOptions{})
			return err
		}},
	}
	covered := map[error]bool{}
	run := func(t *testing.T, tc identityCase) {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.got(t)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(%q, %q) = false", err, w)
				}
			}
		})
		if tc.sentinel != nil {
			covered[tc.sentinel] = true
		}
	}
	for _, tc := range cases {
		run(t, tc)
	}
	forEachBackend(t, func(t *testing.T, eng poller.Engine) {
		run(t, identityCase{name: "Flush interrupted by Close(cause)", sentinel: ErrClosed, want: []error{ErrClosed, cause}, got: func(t *testing.T) error {
			return flushInterrupted(t, eng, cause)
		}})
		run(t, identityCase{name: "Send to a peer that stopped reading", sentinel: ErrWriteTimeout, want: []error{ErrClosed, ErrWriteTimeout}, got: func(t *testing.T) error {
			_, err := writeTimedOut(t, eng)
			return err
		}})
		run(t, identityCase{name: "Err: write timeout", want: []error{ErrWriteTimeout}, got: func(t *testing.T) error {
			s, _ := writeTimedOut(t, eng)
			return s.Err()
		}})
	})
	for name, v := range exportedSentinels(t) {
		if !covered[v] {
			t.Errorf("the table has no path returning %s", name)
		}
	}
}

// exportedSentinels are the package's exported Err* variables, found in its
// source so a new sentinel cannot be left out of the table.
func exportedSentinels(t *testing.T) map[string]error {
	t.Helper()
	byName := map[string]error{
		"ErrClosed": ErrClosed, "ErrFrameTooBig": ErrFrameTooBig, "ErrMessageTooBig": ErrMessageTooBig,
		"ErrQueueFull": ErrQueueFull, "ErrPingTimeout": ErrPingTimeout, "ErrCloseTimeout": ErrCloseTimeout,
		"ErrWriteTimeout": ErrWriteTimeout,
		"ErrHandshake":    ErrHandshake, "ErrBadURL": ErrBadURL, "ErrInvalidFrame": ErrInvalidFrame,
		"ErrInvalidArgument": ErrInvalidArgument, "ErrShutdownTimeout": ErrShutdownTimeout,
		"ErrPreparedReleased": ErrPreparedReleased, "ErrNotData": ErrNotData, "ErrDraining": ErrDraining,
	}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]error{}
	for _, f := range pkgs["rawws"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, sp := range g.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					if !n.IsExported() || !strings.HasPrefix(n.Name, "Err") {
						continue
					}
					v, ok := byName[n.Name]
					if !ok {
						t.Errorf("sentinel %s is not in the identity table", n.Name)
						continue
					}
					out[n.Name] = v
				}
			}
		}
	}
	return out
}
