package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestReadSelfSeesWorkAndMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	a, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU so the reading must move (tick is 10 ms).
	deadline := time.Now().Add(150 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	b, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if b.CPU <= a.CPU {
		t.Fatalf("CPU did not advance: %v -> %v (%d)", a.CPU, b.CPU, x)
	}
	if s := CPUShare(a, b); s <= 0.2 || s > 2.5 {
		t.Fatalf("CPU share %.2f for a busy loop", s)
	}
	if b.RSS < 1<<20 {
		t.Fatalf("RSS %d bytes is implausibly small", b.RSS)
	}
}

func TestReadMissingProcess(t *testing.T) {
	if _, err := Read(1 << 30); err == nil {
		t.Fatal("reading a pid that cannot exist must fail")
	}
}
