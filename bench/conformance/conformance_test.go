package conformance

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rawws/rawws/internal/conform"
)

var update = flag.Bool("update", false, "rewrite ../CONFORMANCE.md from this run")

// peer is an echo server under test.
type peer struct {
	name string
	pkg  string // go package to build
	// crashes lists cases known to kill the server process; each runs on
	// a fresh process after the rest of the suite.
	crashes []string
	// maxFailed bounds the FAILED count: a peer getting worse (or the
	// runner judging wrongly) shows up as a test failure.
	maxFailed int
}

var peers = []peer{
	{name: "gorilla", pkg: "../cmd/echo-gorilla", maxFailed: 5},
	{name: "gws", pkg: "../cmd/echo-gws", crashes: []string{"1.5.3"}, maxFailed: 5},
	{name: "nbio", pkg: "../cmd/echo-nbio", maxFailed: 200},
	{name: "gobwas", pkg: "../cmd/echo-gobwas", maxFailed: 10},
}

// binDir holds the peer binaries for the run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// build compiles the peers once per test binary run.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "conformance-peers")
	if err != nil {
		return "", err
	}
	binDir = dir
	for _, p := range peers {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p.name), p.pkg).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", p.name, err, out)
		}
	}
	return dir, nil
})

// server is a running peer process.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) stop() {
	if s.alive() {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// start runs the peer binary on a free port and waits for its
// "listening on ADDR" line.
func start(t *testing.T, bin string) *server {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() { // keep the pipe drained
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			s.stop()
			t.Fatalf("%s printed %q, want \"listening on ADDR\"", bin, l)
		}
		s.url = "ws://" + addr + "/"
	case <-time.After(20 * time.Second):
		s.stop()
		t.Fatalf("%s did not report its address", bin)
	}
	t.Cleanup(s.stop)
	return s
}

var opts = conform.Options{Timeout: 5 * time.Second, Parallel: 8}

// runPeer runs the suite against p and returns the report in suite order.
func runPeer(t *testing.T, dir string, p peer) conform.Report {
	bin := filepath.Join(dir, p.name)
	srv := start(t, bin)
	o := opts
	o.Exclude = p.crashes
	rep, err := conform.Run(context.Background(), srv.url, o)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	if !srv.alive() {
		t.Fatalf("%s: server process died during the suite", p.name)
	}
	for _, id := range p.crashes {
		s := start(t, bin)
		one := opts
		one.Cases = []string{id}
		r, err := conform.Run(context.Background(), s.url, one)
		if err != nil || len(r.Results) != 1 {
			t.Fatalf("%s %s: %v", p.name, id, err)
		}
		res := r.Results[0]
		select {
		case <-s.done:
			res.Verdict, res.Detail = conform.Failed, "server process crashed"
		case <-time.After(time.Second):
		}
		rep.Results = append(rep.Results, res)
	}
	// Put the isolated cases back in suite order.
	pos := map[string]int{}
	for i, c := range conform.All() {
		pos[c.ID] = i
	}
	res := rep.Results
	for i := 1; i < len(res); i++ {
		for j := i; j > 0 && pos[res[j].ID] < pos[res[j-1].ID]; j-- {
			res[j], res[j-1] = res[j-1], res[j]
		}
	}
	return rep
}

func TestPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four servers through the whole suite")
	}
	dir, err := build()
	if err != nil {
		t.Fatal(err)
	}
	reports := make([]conform.Report, len(peers))
	for i, p := range peers {
		reports[i] = runPeer(t, dir, p)
		rep := reports[i]
		t.Logf("%-8s %s", p.name, rep.Summary())
		// Sections 12 and 13 (permessage-deflate) run only when asked for.
		if n, want := len(rep.Results), len(conform.Select(nil, []string{"12.*", "13.*"})); n != want {
			t.Errorf("%s: %d results, want %d", p.name, n, want)
		}
		if n := len(rep.Failed()); n > p.maxFailed {
			t.Errorf("%s: %d FAILED, expected at most %d", p.name, n, p.maxFailed)
			for _, r := range rep.Failed() {
				t.Logf("  %s %s: %s", r.ID, r.Description, r.Detail)
			}
		}
	}
	// What the suite is known to find: gorilla echoes and fails right but
	// checks UTF-8 only at message end (its application does it).
	want := map[string]map[string]conform.Verdict{
		"gorilla": {"1.1.9": conform.OK, "2.13": conform.OK, "3.1.4": conform.OK, "5.18": conform.OK, "6.4.1": conform.NonStrict, "6.7.26": conform.OK, "7.9.1": conform.OK},
		"gws":     {"1.5.3": conform.Failed, "6.4.1": conform.NonStrict, "7.7.1": conform.OK},
		"gobwas":  {"6.4.1": conform.OK, "7.9.11": conform.Failed},
		"nbio":    {"1.1.1": conform.Failed, "6.7.1": conform.Failed, "1.1.8": conform.OK},
	}
	for i, p := range peers {
		for _, r := range reports[i].Results {
			if v, ok := want[p.name][r.ID]; ok && r.Verdict != v {
				t.Errorf("%s %s (%s): %s (%s), want %s", p.name, r.ID, r.Description, r.Verdict, r.Detail, v)
			}
		}
	}
	if *update {
		if err := os.WriteFile("../CONFORMANCE.md", []byte(markdown(reports)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
