package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runMainEnv, set in the environment, makes the test binary run main with
// the arguments after "--" instead of the tests: the progress tests need
// the real program with its real stderr redirected.
const runMainEnv = "RAWWS_BENCH_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"rawws-bench"}, os.Args[i+1:]...)
				main()
				os.Exit(0)
			}
		}
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// runMain runs rawws-bench with args in a child process whose stderr is
// stderr (a file, or a pipe when it is a buffer) and returns its stdout.
func runMain(t *testing.T, stderr any, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	switch e := stderr.(type) {
	case *os.File:
		cmd.Stderr = e
	case *bytes.Buffer:
		cmd.Stderr = e // not an *os.File: exec copies it through a pipe
	}
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("rawws-bench %v: %v\nstdout:\n%s", args, err, out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("rawws-bench %v did not finish in 60 s", args)
	}
	return out.String()
}

// TestProgressPlainOffTerminal: with stderr a file or a pipe, progress
// comes as plain lines, without the carriage returns and erase-line
// escapes a terminal redraw uses, and the result table still reaches
// stdout.
func TestProgressPlainOffTerminal(t *testing.T) {
	srv := startServer(t)
	args := []string{"-url", srv.url, "-scenario", "echo,connect", "-conns", "4", "-duration", "1s",
		"-warmup", "100ms", "-backend", "std", "-source-addrs", "1"}
	check := func(t *testing.T, log, table string) {
		t.Helper()
		if i := strings.IndexFunc(log, func(r rune) bool { return r < ' ' && r != '\n' || r == 0x7f }); i >= 0 {
			t.Fatalf("control character %q at byte %d of stderr:\n%q", log[i], i, log)
		}
		for _, want := range []string{"echo 64 B: ", "connect: "} {
			if !strings.Contains(log, want) {
				t.Errorf("no %q progress line on stderr:\n%s", want, log)
			}
		}
		if !strings.Contains(table, "echo ") || !strings.Contains(table, "connect ") {
			t.Errorf("no result table on stdout:\n%s", table)
		}
	}
	t.Run("file", func(t *testing.T) {
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		table := runMain(t, f, args...)
		log, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		check(t, string(log), table)
	})
	t.Run("pipe", func(t *testing.T) {
		var log bytes.Buffer
		table := runMain(t, &log, args...)
		check(t, log.String(), table)
	})
}

// TestProgressLines: on a terminal each update redraws the line and done
// erases it; elsewhere updates are plain lines, at most one per period.
func TestProgressLines(t *testing.T) {
	var tty bytes.Buffer
	p := &progress{w: &tty, tty: true, every: time.Hour}
	p.line("a %d", 1)
	p.line("a %d", 2)
	p.done()
	if got, want := tty.String(), "\r\033[Ka 1\r\033[Ka 2\r\033[K"; got != want {
		t.Errorf("terminal: %q, want %q", got, want)
	}
	var plain bytes.Buffer
	p = &progress{w: &plain, every: 50 * time.Millisecond}
	p.line("b %d", 1)
	p.line("b %d", 2) // within the period: skipped
	time.Sleep(60 * time.Millisecond)
	p.line("b %d", 3)
	p.done()
	if got, want := plain.String(), "b 1\nb 3\n"; got != want {
		t.Errorf("not a terminal: %q, want %q", got, want)
	}
	var quiet bytes.Buffer
	p = &progress{w: &quiet, quiet: true, tty: true}
	p.line("c")
	p.done()
	if quiet.Len() != 0 {
		t.Errorf("-quiet wrote %q", quiet.String())
	}
}
