package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCPUPerMsg(t *testing.T) {
	// 0.5 cores for 2 s is 1 CPU second; over 100000 messages, 10 µs each.
	r := result{ServerCPU: 0.5, DurationSec: 2, MessagesTotal: 100000}
	if got := r.cpuPerMsg(); !near(got, 10) {
		t.Fatalf("cpuPerMsg = %v, want 10", got)
	}
	if got := (result{}).cpuPerMsg(); got != 0 {
		t.Fatalf("no messages: %v, want 0", got)
	}
}

// TestFloorRatio: ratios pair runs of the same round, then take the
// median; a round the floor missed does not count.
func TestFloorRatio(t *testing.T) {
	f := func(r result) float64 { return r.MsgsPerSec }
	floor := []result{{Round: 1, MsgsPerSec: 10}, {Round: 2, MsgsPerSec: 20}, {Round: 3, MsgsPerSec: 40}}
	srv := []result{{Round: 1, MsgsPerSec: 20}, {Round: 2, MsgsPerSec: 60}, {Round: 3, MsgsPerSec: 40}, {Round: 4, MsgsPerSec: 1000}}
	got, ok := floorRatio(srv, floor, f)
	if !ok || !near(got, 2) { // ratios 2, 3, 1 → median 2; round 4 unpaired
		t.Fatalf("floorRatio = %v %v, want 2", got, ok)
	}
	if _, ok := floorRatio(srv, nil, f); ok {
		t.Fatal("no floor runs: want ok false")
	}
}

func TestParsePerf(t *testing.T) {
	out := "2000,,raw_syscalls:sys_enter,1466235,100.00,,\n" +
		"1000,,syscalls:sys_enter_read,1466235,100.00,,\n" +
		"500,,syscalls:sys_enter_write,1466235,100.00,,\n" +
		"<not counted>,,syscalls:sys_enter_epoll_wait,0,0.00,,\n" +
		"0,,syscalls:sys_enter_close,1466235,100.00,,\n" +
		"garbage line\n"
	c := parsePerf(out, 2)
	// Per second: 1000 in all, read 500, write 250, the other 250 unnamed.
	if !c.OK || !near(c.Syscalls, 1000) || !near(c.ByName["read"], 500) || !near(c.ByName["other"], 250) || len(c.ByName) != 3 {
		t.Fatalf("parsePerf = %+v", c)
	}
	if got := topCalls(c.ByName, 250, 5); got != "read 2.00, other 1.00, write 1.00" {
		t.Fatalf("topCalls = %q", got)
	}
	if c := parsePerf("perf: not found\n", 1); c.OK {
		t.Fatal("no total line: want OK false")
	}
}

// TestParsePerfIntervals keeps only the intervals wholly inside the
// window and divides by the time they cover.
func TestParsePerfIntervals(t *testing.T) {
	var out strings.Builder
	for i := 1; i <= 30; i++ { // 0.1 s intervals, 100 calls each, 1000 inside
		n := 100
		if i > 10 && i <= 20 {
			n = 1000
		}
		fmt.Fprintf(&out, "     %.9f,%d,,raw_syscalls:sys_enter,100000,100.00,,\n", float64(i)/10, n)
		fmt.Fprintf(&out, "     %.9f,%d,,syscalls:sys_enter_read,100000,100.00,,\n", float64(i)/10, n/2)
	}
	c := parsePerfIntervals(out.String(), 0.95, 2.05) // intervals 1.0–1.1 … 1.9–2.0
	if !c.OK || math.Abs(c.Syscalls-10000) > 1e-6 || math.Abs(c.ByName["read"]-5000) > 1e-6 {
		t.Fatalf("parsePerfIntervals = %+v, want 10000/s, read 5000/s", c)
	}
	if c := parsePerfIntervals(out.String(), 1.0, 1.2); c.OK {
		t.Fatal("a 0.2 s stretch: want OK false")
	}
}

// TestCtxSwitches reads this process: it has threads and has switched.
func TestCtxSwitches(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc")
	}
	n, ok := ctxSwitches(os.Getpid())
	if !ok || n <= 0 {
		t.Fatalf("ctxSwitches = %d %v", n, ok)
	}
	if fdCount(os.Getpid()) < 3 {
		t.Fatal("fdCount below stdin/stdout/stderr")
	}
}

// TestRender: the CPU column comes first, the floor ratio follows it, a
// server that failed keeps the row's width, syscalls appear with a probe.
func TestRender(t *testing.T) {
	servers := []server{{Name: "rawws-epoll"}, {Name: "gws"}, {Name: floorName}}
	sc := []scenario{{Name: "echo 64 B × 100"}, {Name: "idle × 10", Idle: true}}
	mk := func(round int, cpu float64) result {
		return result{Round: round, ServerCPU: cpu, DurationSec: 1, MessagesTotal: 1000, MsgsPerSec: 1000,
			Win: counts{OK: true, CtxSw: 500}}
	}
	res := map[string]map[string][]result{
		"echo 64 B × 100": {
			"rawws-epoll": {mk(1, 0.004), mk(2, 0.004)},
			floorName:     {mk(1, 0.002), mk(2, 0.001)},
		},
		"idle × 10": {"rawws-epoll": {{Round: 1, RSSPerConn: 400}}, floorName: {{Round: 1, RSSPerConn: 100}}},
	}
	probes := map[string]map[string]result{"echo 64 B × 100": {
		floorName: {MsgsPerSec: 1000, Win: counts{OK: true, Syscalls: 3000, ByName: map[string]float64{"read": 1000, "write": 1000, "epoll_wait": 1000}}},
	}}
	md := render(servers, sc, res, probes, 2)
	for _, want := range []string{
		"| server | server µs/msg | × floor-epoll | msgs/s | ratio | p99 ms | server CPU | ctx sw/msg | syscalls/msg | client CPU | errors |",
		"| rawws-epoll | 4.00 | 3.00 | 1000 | 1.00 |", // ratios 2 and 4 → 3
		"| floor-epoll | 1.50 | 1.00 |",
		"| 0.500 | - |", // ctx sw/msg, then no probe for rawws-epoll
		"| gws | failed |",
		"- floor-epoll: epoll_wait 1.00, read 1.00, write 1.00",
		"| rawws-epoll | 400 | 1.00 | 4.00 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	// gws failed in both tables: 11 columns in echo, 5 in idle.
	var widths []int
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| gws | failed") {
			widths = append(widths, strings.Count(line, "|"))
		}
	}
	if len(widths) != 2 || widths[0] != 12 || widths[1] != 6 {
		t.Errorf("failed rows' widths (pipes) %v, want [12 6]", widths)
	}
}
