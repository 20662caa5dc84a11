package conform

import (
	"fmt"
	"slices"
)

// Frame shorthands for writing cases.
func text(s string) wframe    { return wframe{fin: true, op: opText, payload: []byte(s)} }
func binaryF(b []byte) wframe { return wframe{fin: true, op: opBinary, payload: b} }
func ping(b []byte) wframe    { return wframe{fin: true, op: opPing, payload: b} }
func pongF(b []byte) wframe   { return wframe{fin: true, op: opPong, payload: b} }
func closeF(code int, r string) wframe {
	return wframe{fin: true, op: opClose, payload: closePayload(code, r)}
}
func frag(op byte, fin bool, b []byte) wframe {
	return wframe{fin: fin, op: op, payload: b}
}

// send1 is a step writing frames in one write.
func send1(frames ...wframe) step { return step{frames: frames} }

// chopped is a step writing frames in writes of n bytes.
func chopped(n int, frames ...wframe) step { return step{frames: frames, chop: n} }

// barrier is the ping the fail-fast cases send after the fragment that
// makes a message invalid: a server that answers it has processed that
// fragment without failing the connection.
var barrier = []byte("fail-fast barrier")

// echoCase: the server must answer with want, in order, then complete a
// client-initiated close handshake.
func echoCase(id, desc string, steps []step, want ...item) Case {
	return Case{ID: id, Description: desc, Expect: expectEcho(want), run: func(s *session) (Verdict, string) {
		s.send(steps...)
		if got, err := s.expectAll(want); err != nil {
			if got.kind == itClose && got.code == 1009 {
				return Failed, err.Error() + " (message too big for the server: raise its limit to 32 MiB)"
			}
			return Failed, err.Error()
		}
		return s.closeNormally()
	}}
}

func expectEcho(want []item) string {
	if len(want) == 0 {
		return "nothing echoed; clean close"
	}
	if len(want) == 1 {
		return "echo " + want[0].String() + "; clean close"
	}
	return fmt.Sprintf("%d replies in order (%s, ...); clean close", len(want), want[0])
}

// failCase: the server must answer prefix, then fail the connection
// (a close frame with a code in codes, or a bare TCP close). A code in
// lenient is NON-STRICT; any other code, any further echo or no failure
// is FAILED.
func failCase(id, desc string, steps []step, prefix []item, codes, lenient []int) Case {
	return Case{ID: id, Description: desc, Expect: expectFail(prefix, codes), run: func(s *session) (Verdict, string) {
		s.send(steps...)
		return judgeFailure(s, prefix, codes, lenient)
	}}
}

func expectFail(prefix []item, codes []int) string {
	e := fmt.Sprintf("fail the connection (close %v or drop)", codes)
	if len(prefix) > 0 {
		e = fmt.Sprintf("echo %d item(s) first, then ", len(prefix)) + e
	}
	return e
}

// judgeFailure reads the expected prefix and then judges how the server
// failed the connection.
func judgeFailure(s *session, prefix []item, codes, lenient []int) (Verdict, string) {
	for i, w := range prefix {
		got := s.next()
		if sameItem(w, got) {
			continue
		}
		if got.kind == itClose || got.kind == itEOF {
			v, d := judgeEnd(s, got, codes, lenient)
			return max(v, NonStrict), fmt.Sprintf("failed before answering #%d %s; %s", i+1, w, d)
		}
		return Failed, fmt.Sprintf("expected #%d %s, got %s", i+1, w, got)
	}
	return judgeEnd(s, s.next(), codes, lenient)
}

// judgeEnd judges got, the first thing the server did after the invalid
// input.
func judgeEnd(s *session, got item, codes, lenient []int) (Verdict, string) {
	switch got.kind {
	case itEOF:
		return OK, "connection dropped without a close frame" + got.detail
	case itTimeout:
		return Failed, "server did not fail the connection"
	case itViolation:
		return Failed, got.detail
	case itClose:
		v, d := OK, fmt.Sprintf("closed with %d", got.code)
		switch {
		case slices.Contains(codes, got.code):
		case slices.Contains(lenient, got.code):
			v, d = NonStrict, fmt.Sprintf("closed with %d, want %v", got.code, codes)
		default:
			v, d = Failed, fmt.Sprintf("closed with %s, want %v", got, codes)
		}
		// Finish the handshake the server started; it must then close TCP.
		reply := wframe{fin: true, op: opClose}
		if got.code >= 0 {
			reply.payload = closePayload(got.code, "")
		}
		s.send(send1(reply))
		if !s.awaitEOF() {
			return Failed, d + "; then server did not close TCP"
		}
		return v, d
	}
	return Failed, "server accepted invalid input and answered " + got.String()
}

// failFastCase: before holds the input up to and including the frame that
// makes it invalid; after holds the rest of an otherwise complete message.
// A server that fails after before (without answering the barrier ping)
// is OK; one that answers the barrier and fails only after after is
// NON-STRICT.
func failFastCase(id, desc string, before, after []step, prefix []item, codes, lenient []int) Case {
	return Case{ID: id, Description: desc, Expect: "fail at the fragment that makes the text invalid: " + expectFail(prefix, codes), run: func(s *session) (Verdict, string) {
		s.send(before...)
		s.send(send1(ping(barrier)))
		for i, w := range prefix {
			if got := s.next(); !sameItem(w, got) {
				if got.kind == itClose || got.kind == itEOF {
					v, d := judgeEnd(s, got, codes, lenient)
					return max(v, NonStrict), fmt.Sprintf("failed before answering #%d %s; %s", i+1, w, d)
				}
				return Failed, fmt.Sprintf("expected #%d %s, got %s", i+1, w, got)
			}
		}
		got := s.next()
		if got.kind != itPong || string(got.data) != string(barrier) {
			return judgeEnd(s, got, codes, lenient)
		}
		s.send(after...)
		v, d := judgeEnd(s, s.next(), codes, lenient)
		if v == OK {
			return NonStrict, "kept going past the invalid fragment (answered the ping after it); " + d + " only after the rest"
		}
		return v, "kept going past the invalid fragment; " + d
	}}
}
