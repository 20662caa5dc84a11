// Command rawws-bench is a load generator built on rawws's own client engine:
// many connections from one process on event loops, every run bounded in
// connections and time, stopping by itself.
//
// Scenarios:
//
//	echo     N connections each keep -inflight messages of -size bytes in
//	         flight against an echo server; messages/s, MB/s, latency.
//	idle     open N connections and hold them; with -server-pid, the
//	         server's RSS growth per connection (5 s after connecting).
//	connect  N workers each open a connection, close it and open the
//	         next, for -duration: at most N open at once; connections/s,
//	         and the connects made in all (labelled apart from N).
//	http     keep-alive GETs of -path on N connections, -pipeline deep.
//	broadcast  N clients on the server's /broadcast path; one publishes,
//	         the next message goes when all N have the last one; deliveries/s,
//	         delivery latency, and the time to reach all.
//
// Every scenario ends each WebSocket connection with the closing
// handshake: Close 1000, then at most 2 s (for all of them) for the
// server's Close; connections that do not end cleanly by then are counted
// in the report (close_unfinished).
//
// Output: progress on stderr (a live line on a terminal, a plain line every
// few seconds elsewhere), then a table on stdout, or one JSON object per
// scenario with -json (the form bench/cmd/compare reads).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rawws/rawws/cmd/internal/procstat"
	// Every backend the -backend flag may name is linked in; the library
	// alone links only epoll and std.
	_ "github.com/rawws/rawws/poller/netpoll"
)

type config struct {
	url       string
	scenario  string
	conns     int
	size      int
	inflight  int
	duration  time.Duration
	warmup    time.Duration
	ramp      int // concurrent handshakes while ramping up
	serverPID int
	backend   string
	path      string
	pipeline  int
	settle    time.Duration
	jsonOut   bool
	quiet     bool
	// sources > 1 spreads connections over 127.0.0.1 .. 127.0.0.sources,
	// for more than one address's ~28,000 ephemeral ports.
	sources int
}

// portShare is the part of the ephemeral port range one source address is
// given: the rest stays for other programs and sockets in TIME_WAIT.
const portShare = 0.8

// sourcesFor is how many loopback source addresses conns connections need
// when each has ports ephemeral ports (1 when the server is not on
// loopback, where other addresses cannot be used, or ports is unknown).
func sourcesFor(conns, ports int, loopback bool) int {
	if !loopback || ports <= 0 {
		return 1
	}
	per := max(1, int(float64(ports)*portShare))
	return min(254, max(1, (conns+per-1)/per))
}

// localPorts is the size of the kernel's ephemeral port range, or 0 when
// it cannot be read.
func localPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || hi < lo {
		return 0
	}
	return hi - lo + 1
}

// localAddr is the source address of connection i (nil: the kernel picks).
func (c *config) localAddr(i int) net.Addr {
	if c.sources <= 1 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%c.sources))}
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "ws://127.0.0.1:9001/", "server URL (ws:// for WebSocket scenarios; its host for http)")
	flag.StringVar(&c.scenario, "scenario", "echo", "echo, idle, connect, http or broadcast; several comma-separated run in turn")
	flag.IntVar(&c.conns, "conns", 1000, "connections open at once")
	flag.IntVar(&c.size, "size", 64, "echo payload bytes; several comma-separated run in turn (e.g. 64,4096)")
	flag.IntVar(&c.inflight, "inflight", 1, "messages in flight per connection (echo) ")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per scenario (at most 10m)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before each echo measurement")
	flag.IntVar(&c.ramp, "ramp", 64, "handshakes in parallel while connecting (not connect, where each of -conns workers dials in turn)")
	flag.IntVar(&c.serverPID, "server-pid", 0, "server process to sample for CPU and RSS")
	flag.StringVar(&c.backend, "backend", "", "client engine backend (default: rawws's default)")
	flag.StringVar(&c.path, "path", "/bytes/13", "http: request path")
	flag.IntVar(&c.pipeline, "pipeline", 1, "http: requests in flight per connection")
	flag.DurationVar(&c.settle, "settle", 5*time.Second, "idle: wait after connecting before reading the server's RSS")
	flag.BoolVar(&c.jsonOut, "json", false, "print one JSON object per scenario instead of the table")
	flag.BoolVar(&c.quiet, "quiet", false, "no progress line")
	flag.IntVar(&c.sources, "source-addrs", 0, "dial from 127.0.0.1..127.0.0.N (loopback servers only), for more connections than one address has ports; 0: as many as -conns needs")
	sizes := flag.String("sizes", "", "alias of -size with a list")
	flag.Parse()

	if err := validate(&c); err != nil {
		fmt.Fprintln(os.Stderr, "rawws-bench:", err)
		os.Exit(2)
	}
	sizeList := flag.Lookup("size").Value.String()
	if *sizes != "" {
		sizeList = *sizes
	}
	var reports []report
	failed := false
	for _, sc := range strings.Split(c.scenario, ",") {
		runs := []int{c.size}
		if sc == "echo" {
			runs = parseSizes(sizeList)
		}
		for _, size := range runs {
			cc := c
			cc.scenario, cc.size = sc, size
			r, err := run(cc)
			if err != nil {
				fmt.Fprintf(os.Stderr, "rawws-bench: %s: %v\n", sc, err)
				failed = true
				continue
			}
			reports = append(reports, r)
		}
	}
	if c.jsonOut {
		printJSON(os.Stdout, reports)
	} else {
		printTable(os.Stdout, reports)
	}
	if failed {
		os.Exit(1)
	}
}

func parseSizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err == nil && n >= 0 {
			out = append(out, n)
		}
	}
	return out
}

// validate enforces the bounds that keep a run finite and inside the
// machine: connections under the open-file limit, time under ten minutes.
func validate(c *config) error {
	u, err := url.Parse(c.url)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -url %q", c.url)
	}
	if c.conns < 1 || c.conns > 1_000_000 {
		return fmt.Errorf("-conns %d out of range 1..1000000", c.conns)
	}
	if lim := fileLimit(); lim > 0 && uint64(c.conns)+64 > lim {
		return fmt.Errorf("-conns %d needs more open files than the limit %d (raise it with `ulimit -n`; see README)", c.conns, lim)
	}
	if c.duration <= 0 || c.duration > 10*time.Minute {
		return fmt.Errorf("-duration %v out of range (0, 10m]", c.duration)
	}
	if c.inflight < 1 || c.inflight > 1024 {
		return fmt.Errorf("-inflight %d out of range 1..1024", c.inflight)
	}
	if c.pipeline < 1 || c.pipeline > 1024 {
		return fmt.Errorf("-pipeline %d out of range 1..1024", c.pipeline)
	}
	if c.ramp < 1 {
		c.ramp = 1
	}
	loopback := strings.HasPrefix(u.Hostname(), "127.") || u.Hostname() == "localhost"
	if c.sources == 0 {
		c.sources = sourcesFor(c.conns, localPorts(), loopback)
	}
	if c.sources < 1 || c.sources > 254 {
		return fmt.Errorf("-source-addrs %d out of range 1..254", c.sources)
	}
	if host := u.Hostname(); c.sources > 1 && !loopback {
		return fmt.Errorf("-source-addrs needs a loopback server, not %s", host)
	}
	return nil
}

func run(c config) (report, error) {
	// A hard stop whatever happens: connecting, running and closing.
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+c.warmup+c.settle+3*time.Minute)
	defer cancel()
	switch c.scenario {
	case "echo":
		return runEcho(ctx, c)
	case "idle":
		return runIdle(ctx, c)
	case "connect":
		return runConnect(ctx, c)
	case "http":
		return runHTTP(ctx, c)
	case "broadcast":
		return runBroadcast(ctx, c)
	}
	return report{}, fmt.Errorf("unknown scenario %q", c.scenario)
}

// cpuMeter samples this process and the server (when known) over a window.
type cpuMeter struct {
	pid       int
	self, srv procstat.Sample
	srvOK     bool
	selfOK    bool
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	var err error
	m.self, err = procstat.Read(0)
	m.selfOK = err == nil
	if pid > 0 {
		m.srv, err = procstat.Read(pid)
		m.srvOK = err == nil
	}
	return m
}

func (m *cpuMeter) stop(r *report) {
	if m.selfOK {
		if s, err := procstat.Read(0); err == nil {
			r.ClientCPU = procstat.CPUShare(m.self, s)
		}
	}
	if m.srvOK {
		if s, err := procstat.Read(m.pid); err == nil {
			r.ServerCPU = procstat.CPUShare(m.srv, s)
		}
	}
}

func bar(done, total int) string {
	const w = 30
	n := 0
	if total > 0 {
		// The last tick may land past the end: clamp, or Repeat panics.
		n = min(max(done*w/total, 0), w)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", w-n) + "]"
}
