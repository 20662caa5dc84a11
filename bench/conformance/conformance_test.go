package conformance

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// runner is the import path of the conformance command. The suite lives in
// the main module's cmd/internal/conform, which Go's internal rule keeps
// from this module: the command is its interface, driven by its flags and
// read back through its -json report (report_test.go).
const runner = "github.com/rawws/rawws/cmd/rawws-conform"

// build compiles the peers and the runner once per test binary run.
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
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "rawws-conform"), runner).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build rawws-conform: %v\n%s", err, out)
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

// The runner's settings for every run; CONFORMANCE.md states them.
const (
	caseTimeout = 5 * time.Second
	parallel    = 8
)

// runPeer runs the suite against p and returns the report in suite order.
func runPeer(t *testing.T, dir string, p peer, suite []testCase) report {
	bin := filepath.Join(dir, p.name)
	srv := start(t, bin)
	var args []string
	if len(p.crashes) > 0 {
		args = []string{"-exclude", strings.Join(p.crashes, ",")}
	}
	rep, err := runSuite(dir, srv.url, args...)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	if !srv.alive() {
		t.Fatalf("%s: server process died during the suite", p.name)
	}
	for _, id := range p.crashes {
		s := start(t, bin)
		r, err := runSuite(dir, s.url, "-cases", id)
		if err != nil || len(r.Results) != 1 {
			t.Fatalf("%s %s: %v", p.name, id, err)
		}
		res := r.Results[0]
		select {
		case <-s.done:
			res.Verdict, res.Detail = failed, "server process crashed"
		case <-time.After(time.Second):
		}
		rep.Results = append(rep.Results, res)
	}
	// Put the isolated cases back in suite order.
	pos := map[string]int{}
	for i, c := range suite {
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
	suite, err := listCases(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Sections 12 and 13 (permessage-deflate) run only when asked for.
	plain, err := listCases(dir, "-exclude", "12.*,13.*")
	if err != nil {
		t.Fatal(err)
	}
	reports := make([]report, len(peers))
	for i, p := range peers {
		reports[i] = runPeer(t, dir, p, suite)
		rep := reports[i]
		t.Logf("%-8s %s", p.name, rep.summary())
		if n, want := len(rep.Results), len(plain); n != want {
			t.Errorf("%s: %d results, want %d", p.name, n, want)
		}
		if n := len(rep.with(failed)); n > p.maxFailed {
			t.Errorf("%s: %d FAILED, expected at most %d", p.name, n, p.maxFailed)
			for _, r := range rep.with(failed) {
				t.Logf("  %s %s: %s", r.ID, r.Description, r.Detail)
			}
		}
	}
	// What the suite is known to find: gorilla echoes and fails right but
	// checks UTF-8 only at message end (its application does it).
	want := map[string]map[string]verdict{
		"gorilla": {"1.1.9": passed, "2.13": passed, "3.1.4": passed, "5.18": passed, "6.4.1": nonStrict, "6.7.26": passed, "7.9.1": passed},
		"gws":     {"1.5.3": failed, "6.4.1": nonStrict, "7.7.1": passed},
		"gobwas":  {"6.4.1": passed, "7.9.11": failed},
		"nbio":    {"1.1.1": failed, "6.7.1": failed, "1.1.8": passed},
	}
	for i, p := range peers {
		for _, r := range reports[i].Results {
			if v, ok := want[p.name][r.ID]; ok && r.Verdict != v {
				t.Errorf("%s %s (%s): %s (%s), want %s", p.name, r.ID, r.Description, r.Verdict, r.Detail, v)
			}
		}
	}
	if *update {
		if err := os.WriteFile("../CONFORMANCE.md", []byte(markdown(suite, reports)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
