package conform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Options tune a Run. The zero value runs every case, 8 at a time, with a
// 5 s timeout.
type Options struct {
	// Cases selects cases by ID pattern: "5.*", "6.3.*", "7.9.2", or a
	// section prefix such as "6" or "6.3". Empty selects all.
	Cases []string
	// Exclude drops cases matching any of these patterns after Cases.
	Exclude []string
	// Timeout bounds every wait for the server (handshake, each expected
	// reply, each write). Default 5 s.
	Timeout time.Duration
	// Parallel is how many cases run at once, each on its own
	// connection. Default 8.
	Parallel int
	// Deflate also runs sections 12 and 13, which negotiate
	// permessage-deflate (RFC 7692) and exchange compressed messages;
	// without it they are left out of every selection.
	Deflate bool
}

// HeavyCases are the patterns of the cases that move megabytes (16 MiB
// messages, 64 KiB in 1-byte writes, section 9): put them in
// Options.Exclude where the server runs under the race detector or on an
// emulator and only the protocol is being checked.
var HeavyCases = []string{"9.*", "1.*.9", "1.3.7", "1.3.8", "1.4.7", "1.4.8", "12.*.9", "12.5.5", "13.*.9", "13.*.10"}

// Report is the outcome of a Run, results in suite order.
type Report struct {
	URL      string        `json:"url"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Results  []Result      `json:"results"`
}

// Failed returns the FAILED results.
func (r Report) Failed() []Result { return r.with(Failed) }

// NonStrict returns the NON-STRICT results.
func (r Report) NonStrict() []Result { return r.with(NonStrict) }

func (r Report) with(v Verdict) []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Verdict == v {
			out = append(out, res)
		}
	}
	return out
}

// Counts returns how many results got each verdict, indexed by Verdict.
func (r Report) Counts() [4]int {
	var c [4]int
	for _, res := range r.Results {
		if res.Verdict >= 0 && int(res.Verdict) < len(c) {
			c[res.Verdict]++
		}
	}
	return c
}

// Summary is one line: "N cases: a OK, b NON-STRICT, c INFORMATIONAL, d FAILED".
func (r Report) Summary() string {
	c := r.Counts()
	return fmt.Sprintf("%d cases in %v: %d OK, %d NON-STRICT, %d INFORMATIONAL, %d FAILED",
		len(r.Results), r.Duration.Round(time.Millisecond), c[OK], c[NonStrict], c[Informational], c[Failed])
}

// WriteText writes the table (one row per case), the trace of every case
// that is not OK when verbose is set, and the summary line.
func (r Report) WriteText(w io.Writer, verbose bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "CASE\tVERDICT\tTIME\tDESCRIPTION\tDETAIL\n")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.ID, res.Verdict, fmtDur(res.Duration), res.Description, res.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if verbose {
		for _, res := range r.Results {
			if res.Verdict == OK || res.Verdict == Informational {
				continue
			}
			fmt.Fprintf(w, "\n== %s %s: %s\n", res.ID, res.Verdict, res.Description)
			for _, l := range res.Trace {
				fmt.Fprintf(w, "   %s\n", l)
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(100 * time.Millisecond).String()
}

// Select returns the suite's cases matching the patterns (all when empty)
// and not matching exclude, in suite order.
func Select(patterns, exclude []string) []Case {
	var out []Case
	for _, c := range All() {
		if (len(patterns) == 0 || matchAny(patterns, c.ID)) && !matchAny(exclude, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

func matchAny(patterns []string, id string) bool {
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if ok, _ := path.Match(p, id); ok || id == p || strings.HasPrefix(id, p+".") {
			return true
		}
	}
	return false
}

// Run runs the selected cases against the echo server at url (ws://host:port/path)
// and returns their results. It blocks until every started case has
// finished; cancelling ctx stops starting new cases and returns the
// partial report with ctx.Err(). The error is ErrBadURL, ErrNoCases or
// ErrUnreachable (wrapped) when nothing could be run; a misbehaving
// server is reported through verdicts, not errors.
func Run(ctx context.Context, url string, opts Options) (Report, error) {
	t, err := parseTarget(url)
	if err != nil {
		return Report{}, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	cases := Select(opts.Cases, opts.Exclude)
	if !opts.Deflate {
		cases = slices.DeleteFunc(cases, func(c Case) bool { return c.deflate })
	}
	if len(cases) == 0 {
		return Report{}, fmt.Errorf("%w: %v", ErrNoCases, opts.Cases)
	}
	probe, err := (&net.Dialer{Timeout: opts.Timeout}).DialContext(ctx, "tcp", t.hostport)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	_ = probe.Close()

	rep := Report{URL: url, Started: time.Now(), Results: make([]Result, len(cases))}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				rep.Results[i] = runCase(cases[i], t, opts.Timeout)
			}
		}()
	}
	var ctxErr error
	n := len(cases)
feed:
	for i := range cases {
		select {
		case jobs <- i:
		case <-ctx.Done():
			ctxErr, n = ctx.Err(), i
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	rep.Results = rep.Results[:n]
	rep.Duration = time.Since(rep.Started)
	return rep, ctxErr
}

// runCase runs one case on a fresh connection.
func runCase(c Case, t target, timeout time.Duration) Result {
	start := time.Now()
	res := Result{ID: c.ID, Description: c.Description}
	if c.hs != nil {
		res.Verdict, res.Detail, res.Trace = c.hs(t, timeout)
		res.Duration = time.Since(start)
		return res
	}
	s, status, err := dial(t, timeout, handshakeOpts{})
	switch {
	case err != nil:
		res.Verdict, res.Detail = Failed, err.Error()
	case status != 101:
		res.Verdict, res.Detail = Failed, fmt.Sprintf("handshake answered %d", status)
	default:
		res.Verdict, res.Detail = c.run(s)
		s.close()
		res.Trace = s.traceLines()
	}
	res.Duration = time.Since(start)
	return res
}
