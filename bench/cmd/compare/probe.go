package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What compare measures on the server itself, beside what rawws-bench
// reports. rawws-bench owns the measured window and counts the messages;
// compare cannot see that window, so it finds a stretch inside it (after
// every connection is up and the warm-up is over, ending before the
// window does), takes counter rates over that stretch and divides them by
// the run's message rate. Under a steady load that is the count per
// message; the margins keep connect and close costs out.

// windowMargin is kept clear at both ends of the measured window.
const windowMargin = 200 * time.Millisecond

// counts is what one stretch measured, as rates per second.
type counts struct {
	CtxSw    float64            // voluntary + involuntary context switches/s, all threads
	Syscalls float64            // system calls/s (perf runs only)
	ByName   map[string]float64 // system calls/s by name (perf runs only)
	OK       bool
}

// fdCount is how many descriptors pid has open: the server's connections
// show up there as the client's handshakes complete.
func fdCount(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(es)
}

// ctxSwitches sums the context switches of every thread of pid:
// /proc/PID/status alone counts only the main thread, and the servers
// here do their work on others.
func ctxSwitches(pid int) (int64, bool) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/status")
		if err != nil {
			continue // the thread ended between the listing and the read
		}
		for line := range bytes.Lines(b) {
			for _, key := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
					n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
					if err == nil {
						sum += n
					}
				}
			}
		}
	}
	return sum, true
}

// measureWindow waits for conns connections on pid, then for the warm-up,
// and measures from there to shortly before the window of length dur ends:
// context switches, or with perf system calls. It gives up (OK false) when
// the load generator ends first or the connections never all arrive.
// perfEv is perf's event list; "" measures context switches instead.
func measureWindow(ctx context.Context, pid, baseFDs, conns int, warmup, dur time.Duration, perfEv string) counts {
	deadline := time.Now().Add(time.Minute)
	for fdCount(pid) < baseFDs+conns {
		if time.Now().After(deadline) || !sleepCtx(ctx, 20*time.Millisecond) {
			return counts{}
		}
	}
	up := time.Now()
	if perfEv != "" {
		return perfSyscalls(ctx, pid, perfEv, up.Add(warmup), up.Add(warmup+dur))
	}
	from, to := up.Add(warmup+windowMargin), up.Add(warmup+dur-windowMargin)
	if to.Sub(from) < 500*time.Millisecond {
		return counts{} // too short to say anything
	}
	if !sleepCtx(ctx, time.Until(from)) {
		return counts{}
	}
	a, ok1 := ctxSwitches(pid)
	t0 := time.Now()
	if !sleepCtx(ctx, time.Until(to)) {
		return counts{}
	}
	b, ok2 := ctxSwitches(pid)
	el := time.Since(t0).Seconds()
	if !ok1 || !ok2 || el <= 0 {
		return counts{}
	}
	return counts{CtxSw: float64(b-a) / el, OK: true}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// The total comes from raw_syscalls:sys_enter, one tracepoint every
// system call passes. The breakdown by name uses syscalls:sys_enter_NAME
// for the calls an event loop makes; all ~360 of syscalls:sys_enter_*
// would do, but enabling that many tracepoints takes perf 10 s and more
// (measured: 14 s on the 2-core box), longer than a run, while these few
// take about one second. Whatever is not named shows up as "other".
var namedSyscalls = []string{
	"read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "io_uring_enter",
	"futex", "nanosleep", "clock_nanosleep", "sched_yield", "accept4", "close",
	"madvise", "mmap", "munmap", "rt_sigreturn", "tgkill", "getrusage",
}

const totalEvent = "raw_syscalls:sys_enter"

// perfSetup is added to the warm-up of the perf probe runs: perf opens
// its events during the warm-up and counts through the whole measured
// window, so the slow-down tracing causes is the same over all of it and
// the window's message rate is the one to divide by.
const perfSetup = 2 * time.Second

// perfInterval is perf stat's reporting interval (-I, milliseconds): the
// intervals wholly inside the window are the ones summed.
const perfInterval = 100

// perfEvents is the event list, or "" when perf cannot count system call
// tracepoints here (not installed, tracepoints hidden, no permission).
func perfEvents() string {
	if _, err := exec.LookPath("perf"); err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "perf", "stat", "-x,", "-e", totalEvent, "--", "true").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(totalEvent)) {
		return ""
	}
	// Only names this kernel has: perf refuses the whole list otherwise.
	list, _ := exec.CommandContext(ctx, "perf", "list", "syscalls:sys_enter_*").Output()
	ev := []string{totalEvent}
	for _, n := range namedSyscalls {
		if bytes.Contains(list, []byte("syscalls:sys_enter_"+n+" ")) {
			ev = append(ev, "syscalls:sys_enter_"+n)
		}
	}
	return strings.Join(ev, ",")
}

// perfSyscalls counts pid's system calls with perf stat from now until
// the window [w0, w1] is over, reported every perfInterval ms, and keeps
// the intervals inside the window less its margins. The run is dropped
// when perf was not yet counting at w0.
func perfSyscalls(ctx context.Context, pid int, events string, w0, w1 time.Time) counts {
	ctx, cancel := context.WithDeadline(ctx, w1.Add(30*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, "perf", "stat", "-I", strconv.Itoa(perfInterval), "-x,", "-e", events, "-p", strconv.Itoa(pid))
	errp, err := cmd.StderrPipe()
	if err != nil {
		return counts{}
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "  perf: %v\n", err)
		return counts{}
	}
	// Lines come at the end of each interval; the first one's arrival
	// less its timestamp is when counting began, in wall time.
	var anchor time.Time
	var text strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(errp)
		for sc.Scan() {
			line := sc.Text()
			if anchor.IsZero() {
				if ts, err := strconv.ParseFloat(strings.TrimSpace(strings.Split(line, ",")[0]), 64); err == nil {
					anchor = time.Now().Add(-time.Duration(ts * float64(time.Second)))
				}
			}
			text.WriteString(line + "\n")
		}
	}()
	sleepCtx(ctx, time.Until(w1.Add(2*perfInterval*time.Millisecond)))
	_ = cmd.Process.Signal(os.Interrupt)
	<-scanned
	_ = cmd.Wait()
	if anchor.IsZero() || anchor.After(w0) {
		fmt.Fprintf(os.Stderr, "  perf was not counting when the window began: dropped\n%.300s\n", text.String())
		return counts{}
	}
	return parsePerfIntervals(text.String(), w0.Sub(anchor).Seconds()+windowMargin.Seconds(), w1.Sub(anchor).Seconds()-windowMargin.Seconds())
}

// parsePerfIntervals sums perf stat -I CSV lines (time,count,unit,event,…)
// of the intervals that lie within [from, to] seconds of perf's clock.
func parsePerfIntervals(out string, from, to float64) counts {
	type line struct {
		ts    float64
		count string
		event string
	}
	var lines []line
	for l := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(l), ",")
		if len(f) < 4 {
			continue
		}
		ts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		lines = append(lines, line{ts, f[1], f[3]})
	}
	// An interval ends at its timestamp and began at the previous one.
	var kept strings.Builder
	prev, span := 0.0, 0.0
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && lines[j].ts == lines[i].ts {
			j++
		}
		if prev >= from && lines[i].ts <= to {
			span += lines[i].ts - prev
			for _, l := range lines[i:j] {
				fmt.Fprintf(&kept, "%s,,%s\n", l.count, l.event)
			}
		}
		prev = lines[i].ts
		i = j
	}
	if span < 0.5 {
		return counts{} // too little inside the window to say anything
	}
	return parsePerf(kept.String(), span)
}

// parsePerf turns perf stat's CSV lines (count,unit,event,…) into rates
// over el seconds: the total from raw_syscalls, the named calls, and the
// rest as "other".
func parsePerf(out string, el float64) counts {
	c := counts{ByName: map[string]float64{}}
	named := 0.0
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseFloat(f[0], 64)
		if err != nil { // "<not counted>": never ran, so none
			n = 0
		}
		if f[2] == totalEvent {
			c.OK = true
			c.Syscalls += n / el
			continue
		}
		if name, ok := strings.CutPrefix(f[2], "syscalls:sys_enter_"); ok && n > 0 {
			c.ByName[name] += n / el
			named += n / el
		}
	}
	if other := c.Syscalls - named; other > 0 {
		c.ByName["other"] = other
	}
	return c
}

// topCalls formats the most frequent system calls per message.
func topCalls(byName map[string]float64, msgsPerSec float64, k int) string {
	if msgsPerSec <= 0 {
		return ""
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if byName[a] != byName[b] {
			if byName[a] > byName[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, n := range names[:min(k, len(names))] {
		per := byName[n] / msgsPerSec
		if per < 0.005 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", n, per))
	}
	return strings.Join(parts, ", ")
}
