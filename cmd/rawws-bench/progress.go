package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// plainEvery is how often a progress line is written when stderr is not a
// terminal: a log or a pipe keeps every line, so one per redraw tick would
// bury the result under hundreds of them.
const plainEvery = 2 * time.Second

// stderr is where progress and warnings go.
var stderr = os.Stderr

// progress reports a running scenario on stderr. On a terminal it is one
// status line redrawn in place (carriage return and erase-line). Anywhere
// else (a file, a pipe, a CI log) those control characters would be kept
// as garbage, so it writes a plain line now and then instead, and nothing
// to erase at the end. Methods may be called from several goroutines.
type progress struct {
	w     io.Writer
	quiet bool
	tty   bool
	every time.Duration

	mu    sync.Mutex
	last  time.Time // when the last plain line was written
	drawn bool      // a redrawn line is on the terminal and must be erased
}

// newProgress reports to stderr, redrawing only when it is a terminal.
func newProgress(quiet bool) *progress {
	return &progress{w: stderr, quiet: quiet, tty: isTerminal(stderr), every: plainEvery}
}

func (p *progress) line(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.drawn = true
		return
	}
	now := time.Now()
	if !p.last.IsZero() && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, format+"\n", args...)
}

// done erases the redrawn line, so what follows starts on a clean line.
func (p *progress) done() {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// isTerminal reports whether f is a terminal; anything that cannot be
// asked counts as not one, so control characters never reach a file.
func isTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	return terminalFD(f.Fd())
}
