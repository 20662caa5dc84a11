// Command compare runs every echo server (rawws on each backend and the
// peers) under the same rawws-bench scenarios, interleaved (A B C, A B C, …)
// and repeated, then prints medians with ratios to rawws and writes
// bench/RESULTS.md's echo section and an SVG chart.
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
	Name string
	Args []string
}

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
	if *only != "" {
		keep := strings.Split(*only, ",")
		servers = slices.DeleteFunc(servers, func(s server) bool { return !slices.Contains(keep, s.Name) })
	}
	d := dur.String()
	scenarios := []scenario{
		{"echo 64 B × 100", []string{"-scenario", "echo", "-conns", "100", "-size", "64", "-duration", d}},
		{"echo 64 B × 1000", []string{"-scenario", "echo", "-conns", "1000", "-size", "64", "-duration", d}},
		{"echo 4 KiB × 100", []string{"-scenario", "echo", "-conns", "100", "-size", "4096", "-duration", d}},
		{"echo 4 KiB × 1000", []string{"-scenario", "echo", "-conns", "1000", "-size", "4096", "-duration", d}},
		// Clients that do not wait for each answer (streams, pub/sub): a
		// server that batches the answers to one read into one write
		// spends its syscalls per read, not per message.
		{"echo 64 B × 1000, 16 in flight", []string{"-scenario", "echo", "-conns", "1000", "-size", "64", "-inflight", "16", "-duration", d}},
	}
	if *idleConns > 0 {
		scenarios = append(scenarios, scenario{fmt.Sprintf("idle × %d", *idleConns),
			[]string{"-scenario", "idle", "-conns", fmt.Sprint(*idleConns), "-duration", "5s"}})
	}

	if *onlySc != "" {
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool { return !strings.Contains(sc.Name, *onlySc) })
	}
	results := map[string]map[string][]result{} // scenario → server → runs
	for round := 1; round <= *repeat; round++ {
		for _, sc := range scenarios {
			for _, s := range servers {
				fmt.Fprintf(os.Stderr, "round %d/%d  %-18s %s\n", round, *repeat, sc.Name, s.Name)
				r, err := runOne(*bin, s, sc)
				if err != nil {
					fmt.Fprintf(os.Stderr, "  %s: %v\n", s.Name, err)
					continue
				}
				if results[sc.Name] == nil {
					results[sc.Name] = map[string][]result{}
				}
				results[sc.Name][s.Name] = append(results[sc.Name][s.Name], r)
			}
		}
	}
	md := render(servers, scenarios, results, *repeat)
	fmt.Print(md)
	check(os.WriteFile(*out, []byte(md), 0o644))
	check(os.WriteFile(*svg, chart(servers, scenarios, results), 0o644))
}

// runOne starts the server, runs one scenario against it and stops it.
func runOne(bin string, s server, sc scenario) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	args := append([]string{"-url", "ws://" + addr + "/", "-json", "-server-pid", fmt.Sprint(srv.Process.Pid)}, sc.Args...)
	b := exec.CommandContext(ctx, filepath.Join(bin, "rawws-bench"), args...)
	b.Stderr = io.Discard
	outb, err := b.Output()
	if err != nil {
		return result{}, fmt.Errorf("rawws-bench: %w", err)
	}
	var r result
	if err := json.Unmarshal(lastLine(outb), &r); err != nil {
		return result{}, fmt.Errorf("rawws-bench output: %w", err)
	}
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

func render(servers []server, scenarios []scenario, res map[string]map[string][]result, repeat int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Echo and idle memory (bench-compare, %s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "Medians of %d interleaved rounds on one machine, load generator rawws-bench on the same cores. "+
		"Ratios are to the best rawws backend in the same scenario; compare ratios, not absolute numbers.\n\n", repeat)
	for _, sc := range scenarios {
		idle := strings.HasPrefix(sc.Name, "idle")
		fmt.Fprintf(&b, "### %s\n\n", sc.Name)
		if idle {
			b.WriteString("| server | bytes/conn | ratio | connected |\n|---|---:|---:|---:|\n")
		} else {
			b.WriteString("| server | msgs/s | ratio | p99 ms | server CPU | server µs/msg | client CPU | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		}
		best := 0.0
		for _, s := range servers {
			rs := res[sc.Name][s.Name]
			if !strings.HasPrefix(s.Name, "rawws") || len(rs) == 0 {
				continue
			}
			v := pick(rs, func(r result) float64 { return r.MsgsPerSec })
			if idle {
				v = pick(rs, func(r result) float64 { return r.RSSPerConn })
				if best == 0 || v < best {
					best = v
				}
			} else if v > best {
				best = v
			}
		}
		for _, s := range servers {
			rs := res[sc.Name][s.Name]
			if len(rs) == 0 {
				fmt.Fprintf(&b, "| %s | failed | | | | | | |\n", s.Name)
				continue
			}
			if idle {
				v := pick(rs, func(r result) float64 { return r.RSSPerConn })
				fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.0f |\n", s.Name, v, ratio(v, best),
					pick(rs, func(r result) float64 { return float64(r.Connected) }))
				continue
			}
			v := pick(rs, func(r result) float64 { return r.MsgsPerSec })
			fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f |\n", s.Name, v, ratio(v, best),
				pick(rs, func(r result) float64 { return r.P99us / 1000 }),
				pick(rs, func(r result) float64 { return r.ServerCPU }),
				// Cost per message, the number that stays when the load
				// generator no longer shares the cores.
				pick(rs, func(r result) float64 { return ratio(r.ServerCPU*1e6, r.MsgsPerSec) }),
				pick(rs, func(r result) float64 { return r.ClientCPU }),
				pick(rs, func(r result) float64 { return float64(r.Errors) }))
		}
		b.WriteString("\n")
	}
	return b.String()
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
	var b bytes.Buffer
	h := 30 + len(scenarios)*(len(servers)*barH+gap)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	y := 20
	for _, sc := range scenarios {
		idle := strings.HasPrefix(sc.Name, "idle")
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
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, left, y, bw, barH-2, colors[i%len(colors)])
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
