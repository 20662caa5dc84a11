// Package procstat reads a process's CPU time and resident memory from
// /proc, for benchmark reports. On systems without /proc every call returns
// ErrUnsupported.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ErrUnsupported: this system has no /proc to read.
var ErrUnsupported = errors.New("procstat: /proc not available")

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 100

// Sample is one reading of a process.
type Sample struct {
	CPU time.Duration // user + system time since the process started
	RSS int64         // resident set size in bytes (VmRSS)
	At  time.Time
}

// Read samples process pid (0 = this process).
func Read(pid int) (Sample, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && pid <= 0 {
			return Sample{}, ErrUnsupported
		}
		return Sample{}, err
	}
	s := Sample{At: time.Now()}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. utime and stime are fields 14 and 15 (1-based).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("procstat: malformed %s/stat", dir)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return Sample{}, fmt.Errorf("procstat: short %s/stat", dir)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return Sample{}, fmt.Errorf("procstat: bad times in %s/stat", dir)
	}
	s.CPU = time.Duration(ut+st) * time.Second / clockTick
	s.RSS, err = RSS(pid)
	return s, err
}

// RSS returns VmRSS of process pid (0 = this process) in bytes.
func RSS(pid int) (int64, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) != 2 || string(f[1]) != "kB" {
				break
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				break
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("procstat: no VmRSS in %s/status", dir)
}

// CPUShare is the CPU time used between two samples divided by the wall
// time between them: 1.0 means one core busy the whole time.
func CPUShare(a, b Sample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return float64(b.CPU-a.CPU) / float64(wall)
}
