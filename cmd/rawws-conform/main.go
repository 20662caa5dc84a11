// Command rawws-conform runs the RFC 6455 conformance suite of
// cmd/internal/conform against a WebSocket echo server:
//
//	rawws-conform -url ws://127.0.0.1:9001/ [-cases 1.*,5.*] [-exclude 9.*]
//	              [-json out.json] [-timeout 5s] [-parallel 8] [-strict] [-v] [-list] [-deflate]
//
// It prints one row per case and a summary. The exit status is 1 when a
// case FAILED (or, with -strict, was NON-STRICT) and 2 when the suite could
// not run at all.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/rawws/rawws/cmd/internal/conform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command with its arguments and outputs passed in, so tests
// can drive it. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rawws-conform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "ws://127.0.0.1:9001/", "echo server to test (ws:// only)")
	cases := fs.String("cases", "", "comma-separated case patterns (1.*,5.*, 6.4 or 7.9.2); empty runs all")
	exclude := fs.String("exclude", "", "comma-separated case patterns to leave out")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the server at each step")
	parallel := fs.Int("parallel", 8, "cases run at once, each on its own connection")
	strict := fs.Bool("strict", false, "exit non-zero on NON-STRICT cases too")
	verbose := fs.Bool("v", false, "print the trace of every case that is not OK")
	list := fs.Bool("list", false, "list the selected cases and exit")
	withDeflate := fs.Bool("deflate", false, "also run sections 12-13: permessage-deflate (RFC 7692) negotiation and compressed messages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, c := range conform.Select(split(*cases), split(*exclude)) {
			fmt.Fprintf(stdout, "%-10s %s — expect: %s\n", c.ID, c.Description, c.Expect)
		}
		return 0
	}
	rep, err := conform.Run(ctx, *url, conform.Options{
		Cases: split(*cases), Exclude: split(*exclude), Timeout: *timeout, Parallel: *parallel,
		Deflate: *withDeflate,
	})
	if err != nil && len(rep.Results) == 0 {
		fmt.Fprintln(stderr, "rawws-conform:", err)
		return 2
	}
	if werr := rep.WriteText(stdout, *verbose); werr != nil {
		fmt.Fprintln(stderr, "rawws-conform:", werr)
		return 2
	}
	if *jsonOut != "" {
		f, ferr := os.Create(*jsonOut)
		if ferr == nil {
			ferr = rep.WriteJSON(f)
			if cerr := f.Close(); ferr == nil {
				ferr = cerr
			}
		}
		if ferr != nil {
			fmt.Fprintln(stderr, "rawws-conform:", ferr)
			return 2
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "rawws-conform:", err)
		return 2
	}
	if len(rep.Failed()) > 0 || (*strict && len(rep.NonStrict()) > 0) {
		return 1
	}
	return 0
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
