package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// verdict is a case's outcome as rawws-conform names it in its table and
// its -json report.
type verdict string

const (
	passed        verdict = "OK"
	informational verdict = "INFORMATIONAL"
	nonStrict     verdict = "NON-STRICT"
	failed        verdict = "FAILED"
)

// UnmarshalText refuses a name the runner does not write, so a change of
// its report format fails the test instead of miscounting.
func (v *verdict) UnmarshalText(b []byte) error {
	switch w := verdict(b); w {
	case passed, informational, nonStrict, failed:
		*v = w
		return nil
	}
	return fmt.Errorf("rawws-conform report: unknown verdict %q", b)
}

// result is one case of the -json report.
type result struct {
	ID          string        `json:"id"`
	Description string        `json:"description"`
	Verdict     verdict       `json:"verdict"`
	Detail      string        `json:"detail"`
	Duration    time.Duration `json:"duration_ns"`
}

// report is the -json report of one rawws-conform run, results in suite
// order.
type report struct {
	URL      string        `json:"url"`
	Duration time.Duration `json:"duration_ns"`
	Results  []result      `json:"results"`
}

func (r report) with(v verdict) []result {
	var out []result
	for _, res := range r.Results {
		if res.Verdict == v {
			out = append(out, res)
		}
	}
	return out
}

func (r report) counts() map[verdict]int {
	c := map[verdict]int{}
	for _, res := range r.Results {
		c[res.Verdict]++
	}
	return c
}

// summary is the runner's own summary line.
func (r report) summary() string {
	c := r.counts()
	return fmt.Sprintf("%d cases in %v: %d OK, %d NON-STRICT, %d INFORMATIONAL, %d FAILED",
		len(r.Results), r.Duration.Round(time.Millisecond), c[passed], c[nonStrict], c[informational], c[failed])
}

// testCase is one line of rawws-conform -list.
type testCase struct{ ID, Description string }

// suiteTimeout bounds one rawws-conform process: the whole suite takes
// well under a minute against a healthy peer.
const suiteTimeout = 10 * time.Minute

// runSuite runs the runner built in dir against url with the settings of
// every run plus args, and reads back its report. Exit status 1 means some
// case FAILED, which the report says; 2 means the suite did not run.
func runSuite(dir, url string, args ...string) (report, error) {
	out := filepath.Join(dir, "report-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".json")
	defer os.Remove(out)
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	args = append([]string{"-url", url, "-timeout", caseTimeout.String(),
		"-parallel", strconv.Itoa(parallel), "-json", out}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "rawws-conform"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 1 {
		err = nil
	}
	if err != nil {
		return report{}, fmt.Errorf("rawws-conform %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return report{}, err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return report{}, fmt.Errorf("rawws-conform report: %w", err)
	}
	return rep, nil
}

// listCases returns the cases rawws-conform -list selects with args, in
// suite order. Each line is "ID  description — expect: what".
func listCases(dir string, args ...string) ([]testCase, error) {
	cmd := exec.Command(filepath.Join(dir, "rawws-conform"), append([]string{"-list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("rawws-conform -list: %v\n%s", err, stderr.Bytes())
	}
	var cases []testCase
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		id, rest, _ := strings.Cut(sc.Text(), " ")
		desc, _, found := strings.Cut(strings.TrimLeft(rest, " "), " — expect: ")
		if id == "" || !found {
			return nil, fmt.Errorf("rawws-conform -list: unexpected line %q", sc.Text())
		}
		cases = append(cases, testCase{ID: id, Description: desc})
	}
	if len(cases) == 0 {
		return nil, errors.New("rawws-conform -list: no cases")
	}
	return cases, sc.Err()
}
