package conform

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by Run. Per-case problems (a server that misbehaves, a
// case's connection that fails) are verdicts in the Report, not errors.
var (
	// ErrBadURL is wrapped when the target is not a ws:// URL.
	ErrBadURL = errors.New("conform: bad url")
	// ErrNoCases is returned when the case patterns select nothing.
	ErrNoCases = errors.New("conform: no case matches")
	// ErrUnreachable is wrapped when the server cannot be reached before
	// any case runs.
	ErrUnreachable = errors.New("conform: server unreachable")
)

// Verdict is the outcome of one case, from best to worst.
type Verdict int

const (
	// OK: the server behaved as RFC 6455 requires.
	OK Verdict = iota
	// Informational: nothing to judge (measurements, behaviour the RFC
	// leaves open); never counted against the server.
	Informational
	// NonStrict: the right outcome, reached late or loosely (invalid
	// UTF-8 rejected at message end instead of at the fragment that
	// broke it, a close code other than the best one).
	NonStrict
	// Failed: the server did something the RFC forbids, or failed to do
	// what it requires.
	Failed
)

var verdictNames = [...]string{"OK", "INFORMATIONAL", "NON-STRICT", "FAILED"}

// String returns the verdict as the table prints it.
func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

// MarshalText encodes the verdict by name for JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses a name written by MarshalText.
func (v *Verdict) UnmarshalText(b []byte) error {
	for i, n := range verdictNames {
		if strings.EqualFold(n, string(b)) {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("conform: unknown verdict %q", b)
}

// Result is one case's outcome.
type Result struct {
	ID          string        `json:"id"`
	Description string        `json:"description"`
	Verdict     Verdict       `json:"verdict"`
	Detail      string        `json:"detail,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
	// Trace is what the runner sent (">") and saw ("<"), shortened.
	Trace []string `json:"trace,omitempty"`
}

// Case describes one test case of the suite.
type Case struct {
	ID          string
	Description string
	// Expect states what a conforming echo server does.
	Expect string
	run    func(*session) (Verdict, string)
	// hs, when set, replaces the default handshake.
	hs func(t target, timeout time.Duration) (Verdict, string, []string)
	// deflate marks the permessage-deflate sections, run only with
	// Options.Deflate.
	deflate bool
}
