// Command compare runs every echo server (rawws on each backend, the
// peers, and the C floors of bench/floor) under the same rawws-bench
// scenarios, interleaved (A B C, A B C, …) and repeated, then prints
// medians and writes bench/RESULTS.md's echo section and an SVG chart.
//
// The first column is the server's CPU per message (utime+stime from
// /proc/PID/stat over rawws-bench's measured window, divided by the
// messages echoed in it): unlike messages/s it does not depend on how much
// of the shared cores the load generator leaves. Next to it is the ratio
// to floor-epoll, the least an epoll WebSocket echo can cost, taken in the
// same round and then the median over rounds, so a slow round moves both.
// Context switches per message come from every thread's /proc status;
// system calls per message from perf (when it can count syscall
// tracepoints here) in one extra probe round, since tracing slows the
// server and must not touch the CPU numbers.
//
// Run it from the bench module: `go run ./cmd/compare` (or `make
// bench-compare` at the top). Everything listens on 127.0.0.1 and every run
// is bounded in time.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// server is one echo server under test.
type server struct {
	Name string
	Cmd  []string // binary and arguments; the address flag is appended
}

// scenario is one rawws-bench invocation.
type scenario struct {
	Name  string
	Args  []string
	Conns int  // connections it opens, to tell when they are all up
	Idle  bool // no messages: memory only
}

// floorName is the reference every server's cost is divided by.
const floorName = "floor-epoll"

// benchWarmup is passed to rawws-bench so compare knows when the measured
// window starts.
const benchWarmup = time.Second

// result is what rawws-bench -json prints (the fields compare uses).
type result struct {
	Scenario      string  `json:"scenario"`
	Conns         int     `json:"conns"`
	Size          int     `json:"size"`
	MsgsPerSec    float64 `json:"msgs_per_s"`
	P99us         float64 `json:"p99_us"`
	Errors        int64   `json:"errors"`
	ServerCPU     float64 `json:"server_cpu"`
	RSSPerConn    float64 `json:"server_rss_per_conn"`
	Connected     int     `json:"connected"`
	ClientCPU     float64 `json:"client_cpu"`
	DurationSec   float64 `json:"duration_s"`
	MessagesTotal int64   `json:"messages"`

	// Filled by compare, not rawws-bench.
	Round int    `json:"-"`
	Win   counts `json:"-"` // server counters over a stretch of the window
}

// cpuPerMsg is the server's CPU µs per message over the measured window
// (ServerCPU is cores busy on average, so ×duration is CPU seconds).
func (r result) cpuPerMsg() float64 {
	if r.MessagesTotal <= 0 {
		return 0
	}
	return r.ServerCPU * r.DurationSec * 1e6 / float64(r.MessagesTotal)
}

// perMsg turns a rate measured on the server into a count per message.
func (r result) perMsg(rate float64) float64 {
	if r.MsgsPerSec <= 0 {
		return 0
	}
	return rate / r.MsgsPerSec
}

func main() {
	bin := flag.String("bin", "../.bin", "directory holding rawws-echo and rawws-bench")
	repeat := flag.Int("repeat", 3, "rounds of every server under every scenario")
	dur := flag.Duration("duration", 5*time.Second, "length of each echo run")
	idleConns := flag.Int("idle-conns", 10000, "connections for the idle-memory scenario (0 skips it)")
	out := flag.String("out", "RESULTS-echo.md", "markdown file for the table (relative to the bench module)")
	svg := flag.String("svg", "echo.svg", "SVG chart file")
	only := flag.String("servers", "", "comma-separated subset of servers")
	onlySc := flag.String("scenarios", "", "run only the scenarios whose name contains this (e.g. idle, \"64 B\")")
	also := flag.String("also", "", "more rawws-echo builds to run beside the rest on epoll, as name=path[,name=path]: a before/after comparison in one interleaved run")
	syscalls := flag.Bool("syscalls", true, "when perf can count syscall tracepoints, one extra probe round for system calls per message")
	flag.Parse()

	peerBin, err := os.MkdirTemp("", "rawws-peers")
	check(err)
	defer os.RemoveAll(peerBin)
	servers := []server{
		{"rawws-netpoll", []string{filepath.Join(*bin, "rawws-echo"), "-backend", "netpoll"}},
		{"rawws-epoll", []string{filepath.Join(*bin, "rawws-echo"), "-backend", "epoll"}},
	}
	for _, p := range []string{"gorilla", "gws", "nbio", "gobwas"} {
		exe := filepath.Join(peerBin, "echo-"+p)
		build := exec.Command("go", "build", "-o", exe, "./cmd/echo-"+p)
		build.Stderr = os.Stderr
		check(build.Run())
		servers = append(servers, server{p, []string{exe}})
	}
	servers = append(servers, buildFloors(peerBin)...)
	for _, kv := range strings.Split(*also, ",") {
		if kv == "" {
			continue
		}
		name, path, ok := strings.Cut(kv, "=")
		if !ok || name == "" || path == "" {
			check(fmt.Errorf("-also %q: want name=path", kv))
		}
		servers = append(servers, server{name, []string{path, "-backend", "epoll"}})
	}
	if *only != "" {
		keep := strings.Split(*only, ",")
		servers = slices.DeleteFunc(servers, func(s server) bool { return !slices.Contains(keep, s.Name) })
	}
	echoSc := func(size, conns, inflight int) []string {
		return []string{"-scenario", "echo", "-conns", fmt.Sprint(conns), "-size", fmt.Sprint(size),
			"-inflight", fmt.Sprint(inflight)} // runOne adds -duration and -warmup
	}
	scenarios := []scenario{
		{"echo 64 B × 100", echoSc(64, 100, 1), 100, false},
		{"echo 64 B × 1000", echoSc(64, 1000, 1), 1000, false},
		{"echo 4 KiB × 100", echoSc(4096, 100, 1), 100, false},
		{"echo 4 KiB × 1000", echoSc(4096, 1000, 1), 1000, false},
		// Clients that do not wait for each answer (streams, pub/sub): a
		// server that batches the answers to one read into one write
		// spends its syscalls per read, not per message.
		{"echo 64 B × 1000, 16 in flight", echoSc(64, 1000, 16), 1000, false},
	}
	if *idleConns > 0 {
		scenarios = append(scenarios, scenario{fmt.Sprintf("idle × %d", *idleConns),
			[]string{"-scenario", "idle", "-conns", fmt.Sprint(*idleConns), "-duration", "5s"}, *idleConns, true})
	}

	if *onlySc != "" {
		// A full name picks that scenario alone ("echo 64 B × 100" is
		// also part of "echo 64 B × 1000"); anything else is a substring.
		exact := slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.Name == *onlySc })
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool {
			if exact {
				return sc.Name != *onlySc
			}
			return !strings.Contains(sc.Name, *onlySc)
		})
	}
	results := map[string]map[string][]result{} // scenario → server → runs
	for round := 1; round <= *repeat; round++ {
		for _, sc := range scenarios {
			for _, s := range servers {
				fmt.Fprintf(os.Stderr, "round %d/%d  %-18s %s\n", round, *repeat, sc.Name, s.Name)
				r, err := runOne(*bin, s, sc, *dur, "")
				if err != nil {
					fmt.Fprintf(os.Stderr, "  %s: %v\n", s.Name, err)
					continue
				}
				r.Round = round
				if results[sc.Name] == nil {
					results[sc.Name] = map[string][]result{}
				}
				results[sc.Name][s.Name] = append(results[sc.Name][s.Name], r)
			}
		}
	}
	// System calls: one more round under perf, kept apart from the rest.
	probes := map[string]map[string]result{}
	perfEv := ""
	if *syscalls {
		perfEv = perfEvents()
	}
	if perfEv != "" {
		for _, sc := range scenarios {
			if sc.Idle {
				continue
			}
			probes[sc.Name] = map[string]result{}
			for _, s := range servers {
				fmt.Fprintf(os.Stderr, "perf probe  %-18s %s\n", sc.Name, s.Name)
				r, err := runOne(*bin, s, sc, *dur, perfEv)
				if err != nil {
					fmt.Fprintf(os.Stderr, "  %s: %v\n", s.Name, err)
					continue
				}
				if r.Win.OK {
					probes[sc.Name][s.Name] = r
				}
			}
		}
	} else if *syscalls {
		fmt.Fprintln(os.Stderr, "compare: perf cannot count syscall tracepoints here (Debian: linux-perf); no syscall columns")
	}
	md := render(servers, scenarios, results, probes, *repeat)
	fmt.Print(md)
	check(os.WriteFile(*out, []byte(md), 0o644))
	check(os.WriteFile(*svg, chart(servers, scenarios, results), 0o644))
}

// buildFloors builds the C floors with bench/floor/build.sh. They are
// left out, with the reason on stderr, when that cannot be done (no C
// compiler); floor-uring alone is left out without liburing.
func buildFloors(dir string) []server {
	build := exec.Command("bash", "floor/build.sh", dir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: floors not built (%v); running without them\n", err)
		return nil
	}
	var out []server
	for _, b := range []string{"floor-epoll", "floor-uring"} {
		exe := filepath.Join(dir, b)
		if _, err := os.Stat(exe); err != nil {
			continue
		}
		// One thread, and one per core with a SO_REUSEPORT listener each.
		out = append(out, server{b, []string{exe, "-threads", "1"}}, server{b + "-mt", []string{exe, "-threads", "0"}})
	}
	return out
}

// runOne starts the server, runs one scenario for dur against it and stops
// it. Alongside it measures the server's context switches, or with perf
// its system calls, over a stretch of the measured window.
func runOne(bin string, s server, sc scenario, dur time.Duration, perfEv string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+dur)
	defer cancel()
	srv := exec.CommandContext(ctx, s.Cmd[0], append(s.Cmd[1:], "-addr", "127.0.0.1:0")...)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	addr, err := waitListening(stdout, 20*time.Second)
	if err != nil {
		return result{}, err
	}
	go io.Copy(io.Discard, stdout)
	pid := srv.Process.Pid
	baseFDs := fdCount(pid)
	args := append([]string{"-url", "ws://" + addr + "/", "-json", "-server-pid", fmt.Sprint(pid)}, sc.Args...)
	warmup := benchWarmup
	if perfEv != "" {
		warmup += perfSetup // perf opens its events in the warm-up
	}
	if !sc.Idle {
		// Later flags win: these override the scenario's.
		args = append(args, "-duration", dur.String(), "-warmup", warmup.String())
	}
	b := exec.CommandContext(ctx, filepath.Join(bin, "rawws-bench"), args...)
	b.Stderr = io.Discard
	var outb bytes.Buffer
	b.Stdout = &outb
	if err := b.Start(); err != nil {
		return result{}, fmt.Errorf("rawws-bench: %w", err)
	}
	win := make(chan counts, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	if sc.Idle {
		win <- counts{}
	} else {
		go func() { win <- measureWindow(wctx, pid, baseFDs, sc.Conns, warmup, dur, perfEv) }()
	}
	err = b.Wait()
	// The stretch ends inside the window, so it is over by now unless
	// the run went wrong; then it is cut short and its counters dropped.
	wcancel()
	w := <-win
	if err != nil {
		return result{}, fmt.Errorf("rawws-bench: %w", err)
	}
	var r result
	if err := json.Unmarshal(lastLine(outb.Bytes()), &r); err != nil {
		return result{}, fmt.Errorf("rawws-bench output: %w", err)
	}
	r.Win = w
	return r, nil
}

func waitListening(r io.Reader, limit time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				found <- strings.TrimSpace(a)
				return
			}
		}
		close(found)
	}()
	select {
	case a, ok := <-found:
		if !ok {
			return "", errors.New("server exited before listening")
		}
		return a, nil
	case <-time.After(limit):
		return "", errors.New("server did not say 'listening on' in time")
	}
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pick(rs []result, f func(result) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

// pickOK is pick over the runs whose window counters were measured; ok
// is false when none were.
func pickOK(rs []result, f func(result) float64) (float64, bool) {
	var xs []float64
	for _, r := range rs {
		if r.Win.OK {
			xs = append(xs, f(r))
		}
	}
	return median(xs), len(xs) > 0
}

// floorRatio is the median over rounds of f(server) / f(floor) with both
// from the same round: rounds differ (the box is shared), and a ratio
// within one round cancels what they share.
func floorRatio(rs, floor []result, f func(result) float64) (float64, bool) {
	var xs []float64
	for _, r := range rs {
		for _, fl := range floor {
			if fl.Round == r.Round && f(fl) > 0 {
				xs = append(xs, f(r)/f(fl))
			}
		}
	}
	return median(xs), len(xs) > 0
}

func cell(v float64, ok bool, format string) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func render(servers []server, scenarios []scenario, res map[string]map[string][]result, probes map[string]map[string]result, repeat int) string {
	var b strings.Builder
	hasFloor := slices.ContainsFunc(servers, func(s server) bool { return s.Name == floorName })
	fmt.Fprintf(&b, "## Echo and idle memory (bench-compare, %s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "Medians of %d interleaved rounds on one machine, load generator rawws-bench on the same cores. "+
		"**server µs/msg** is the server's CPU time (utime+stime, /proc/PID/stat) over the measured window divided by the messages echoed in it, "+
		"the number that carries over to a machine where the client runs elsewhere. ", repeat)
	if hasFloor {
		fmt.Fprintf(&b, "**× %s** divides it by the floor's (bench/floor, a minimal C echo server) in the same round, median over rounds. ", floorName)
	}
	b.WriteString("**ratio** is messages/s against the best rawws backend. **ctx sw/msg** counts voluntary and involuntary context switches of all server threads over a stretch inside the window")
	if len(probes) > 0 {
		b.WriteString("; **syscalls/msg** comes from `perf stat` (raw_syscalls:sys_enter, and syscalls:sys_enter_NAME for the breakdown) on the server in one extra round kept out of every other column")
	}
	b.WriteString(". Compare ratios, not absolute numbers.\n\n")
	for _, sc := range scenarios {
		fmt.Fprintf(&b, "### %s\n\n", sc.Name)
		floor := res[sc.Name][floorName]
		if sc.Idle {
			renderIdle(&b, servers, res[sc.Name], floor, hasFloor)
			continue
		}
		probe := probes[sc.Name]
		cols := []string{"server", "server µs/msg"}
		if hasFloor {
			cols = append(cols, "× "+floorName)
		}
		cols = append(cols, "msgs/s", "ratio", "p99 ms", "server CPU", "ctx sw/msg")
		if len(probe) > 0 {
			cols = append(cols, "syscalls/msg")
		}
		cols = append(cols, "client CPU", "errors")
		b.WriteString("| " + strings.Join(cols, " | ") + " |\n|---" + strings.Repeat("|---:", len(cols)-1) + "|\n")
		best := 0.0
		for _, s := range servers {
			rs := res[sc.Name][s.Name]
			if strings.HasPrefix(s.Name, "rawws") && len(rs) > 0 {
				best = max(best, pick(rs, func(r result) float64 { return r.MsgsPerSec }))
			}
		}
		for _, s := range servers {
			rs := res[sc.Name][s.Name]
			row := []string{s.Name}
			if len(rs) == 0 {
				row = append(row, "failed")
				for len(row) < len(cols) {
					row = append(row, "")
				}
				b.WriteString("| " + strings.Join(row, " | ") + " |\n")
				continue
			}
			row = append(row, fmt.Sprintf("%.2f", pick(rs, result.cpuPerMsg)))
			if hasFloor {
				row = append(row, fmtRatio(floorRatio(rs, floor, result.cpuPerMsg)))
			}
			v := pick(rs, func(r result) float64 { return r.MsgsPerSec })
			row = append(row, fmt.Sprintf("%.0f", v), fmtRatio(ratio(v, best), best > 0),
				fmt.Sprintf("%.2f", pick(rs, func(r result) float64 { return r.P99us / 1000 })),
				fmt.Sprintf("%.2f", pick(rs, func(r result) float64 { return r.ServerCPU })))
			cs, ok := pickOK(rs, func(r result) float64 { return r.perMsg(r.Win.CtxSw) })
			row = append(row, cell(cs, ok, "%.3f"))
			if len(probe) > 0 {
				p, ok := probe[s.Name]
				row = append(row, cell(p.perMsg(p.Win.Syscalls), ok, "%.2f"))
			}
			row = append(row, fmt.Sprintf("%.2f", pick(rs, func(r result) float64 { return r.ClientCPU })),
				fmt.Sprintf("%.0f", pick(rs, func(r result) float64 { return float64(r.Errors) })))
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		b.WriteString("\n")
		if len(probe) > 0 {
			b.WriteString("System calls per message in the perf round, the most frequent first:\n\n")
			for _, s := range servers {
				if p, ok := probe[s.Name]; ok {
					fmt.Fprintf(&b, "- %s: %s\n", s.Name, topCalls(p.Win.ByName, p.MsgsPerSec, 5))
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func fmtRatio(v float64, ok bool) string { return cell(v, ok, "%.2f") }

// renderIdle: memory per idle connection, against the best rawws backend
// and against the floor (which keeps ~32 bytes of its own per connection,
// so its figure is mostly the kernel's share that lands in RSS).
func renderIdle(b *strings.Builder, servers []server, res map[string][]result, floor []result, hasFloor bool) {
	rss := func(r result) float64 { return r.RSSPerConn }
	cols := []string{"server", "bytes/conn", "ratio"}
	if hasFloor {
		cols = append(cols, "× "+floorName)
	}
	cols = append(cols, "connected")
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n|---" + strings.Repeat("|---:", len(cols)-1) + "|\n")
	best := 0.0
	for _, s := range servers {
		if rs := res[s.Name]; strings.HasPrefix(s.Name, "rawws") && len(rs) > 0 {
			if v := pick(rs, rss); best == 0 || v < best {
				best = v
			}
		}
	}
	for _, s := range servers {
		rs := res[s.Name]
		if len(rs) == 0 {
			fmt.Fprintf(b, "| %s | failed |%s\n", s.Name, strings.Repeat(" |", len(cols)-2))
			continue
		}
		v := pick(rs, rss)
		row := []string{s.Name, fmt.Sprintf("%.0f", v), fmtRatio(ratio(v, best), best > 0)}
		if hasFloor {
			row = append(row, fmtRatio(floorRatio(rs, floor, rss)))
		}
		row = append(row, fmt.Sprintf("%.0f", pick(rs, func(r result) float64 { return float64(r.Connected) })))
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
}

func ratio(v, best float64) float64 {
	if best == 0 {
		return 0
	}
	return v / best
}

// chart draws one horizontal bar group per scenario: messages/s for echo
// scenarios and bytes per connection for the idle one.
func chart(servers []server, scenarios []scenario, res map[string]map[string][]result) []byte {
	const w, barH, gap, left = 760, 14, 28, 150
	colors := []string{"#1f77b4", "#4c9be8", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"}
	greys := []string{"#555555", "#777777", "#999999", "#bbbbbb"} // the floors: references, not contenders
	var b bytes.Buffer
	h := 30 + len(scenarios)*(len(servers)*barH+gap)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	y := 20
	for _, sc := range scenarios {
		idle := sc.Idle
		unit := "msgs/s"
		val := func(r result) float64 { return r.MsgsPerSec }
		if idle {
			unit, val = "bytes per idle connection (lower is better)", func(r result) float64 { return r.RSSPerConn }
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" font-weight="bold">%s — %s</text>`+"\n", y, esc(sc.Name), unit)
		y += 6
		maxv := 0.0
		for _, s := range servers {
			maxv = max(maxv, pick(res[sc.Name][s.Name], val))
		}
		for i, s := range servers {
			v := pick(res[sc.Name][s.Name], val)
			bw := 0.0
			if maxv > 0 {
				bw = v / maxv * float64(w-left-90)
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-6, y+barH-3, esc(s.Name))
			fill := colors[i%len(colors)]
			if strings.HasPrefix(s.Name, "floor-") {
				fill = greys[i%len(greys)]
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, left, y, bw, barH-2, fill)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.0f</text>`+"\n", float64(left)+bw+4, y+barH-3, v)
			y += barH
		}
		y += gap - 6
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}
