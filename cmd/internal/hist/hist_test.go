package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestIndexMonotonicAndBounded(t *testing.T) {
	prev := -1
	for ns := uint64(0); ns < 1<<22; ns += 1 + ns/97 {
		i := index(ns)
		if i < prev {
			t.Fatalf("index(%d)=%d < previous %d", ns, i, prev)
		}
		if lower(i) > ns {
			t.Fatalf("lower(index(%d)) = %d > value", ns, lower(i))
		}
		if i+1 < buckets && lower(i+1) <= ns {
			t.Fatalf("value %d beyond its bucket %d (next starts %d)", ns, i, lower(i+1))
		}
		prev = i
	}
}

func TestQuantilesWithinRelativeError(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 100000)
	for i := range vals {
		// Log-uniform from 1 µs to 1 s, like real latencies.
		vals[i] = time.Duration(1000 * math.Exp2(r.Float64()*20))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))]
		got := h.Quantile(q)
		if d := float64(got-want) / float64(want); d > 0.02 || d < -0.02 {
			t.Errorf("q%.3f = %v, want %v (error %.3f)", q, got, want, d)
		}
	}
	if h.Max() != vals[len(vals)-1] {
		t.Errorf("max %v, want %v", h.Max(), vals[len(vals)-1])
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestConcurrentRecordAndMerge(t *testing.T) {
	var a, b Histogram
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				a.Record(time.Microsecond)
			}
		}()
	}
	wg.Wait()
	b.Record(time.Second)
	a.Merge(&b)
	if a.Count() != 4001 || a.Max() != time.Second {
		t.Fatalf("count %d max %v", a.Count(), a.Max())
	}
	if q := a.Quantile(0.5); q < 990*time.Nanosecond || q > 1020*time.Nanosecond {
		t.Fatalf("median %v, want about 1µs", q)
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
}
