package bufpool

import (
	"runtime"
	"strconv"
	"testing"
)

func TestGetCapacity(t *testing.T) {
	for _, tc := range []struct{ n, cap int }{
		{0, MinSize}, {1, MinSize}, {MinSize, MinSize}, {MinSize + 1, 2 * MinSize},
		{255, 256}, {256, 256}, {257, 512}, {4 << 10, 4 << 10}, {64<<10 + 1, 128 << 10},
		{MaxSize - 1, MaxSize}, {MaxSize, MaxSize},
		// Above the largest class the capacity is exactly what was asked.
		{MaxSize + 1, MaxSize + 1}, {3 << 20, 3 << 20},
	} {
		bp := Get(tc.n)
		if len(*bp) != 0 || cap(*bp) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want len 0 cap %d", tc.n, len(*bp), cap(*bp), tc.cap)
		}
		Put(bp)
	}
}

func TestClass(t *testing.T) {
	// Every class boundary: the last size of a class and the first of the next.
	for i := range pools {
		size := 1 << (minShift + i)
		if got := class(size); got != i {
			t.Errorf("class(%d) = %d, want %d", size, got, i)
		}
		want := i + 1
		if want == len(pools) {
			want = -1
		}
		if got := class(size + 1); got != want {
			t.Errorf("class(%d) = %d, want %d", size+1, got, want)
		}
	}
}

func TestPutKeepsOnlyClassSizes(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops Puts at random under -race")
	}
	// One P, so a Put is seen by the next Get on the same class.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name string
		cap  int
		kept bool
	}{
		{"class size", 1 << 10, true},
		{"smallest class", MinSize, true},
		{"largest class", MaxSize, true},
		{"below the smallest class", MinSize / 2, false},
		{"not a power of two", 1000, false},
		{"above the largest class", 2 * MaxSize, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 7, tc.cap)
			bp := &b
			Put(bp)
			got := Get(tc.cap)
			if kept := got == bp; kept != tc.kept {
				t.Fatalf("cap %d: kept = %v, want %v", tc.cap, kept, tc.kept)
			}
			if len(*got) != 0 {
				t.Fatalf("Get returned len %d, want 0", len(*got))
			}
			Put(got)
		})
	}
}

func TestPutGrownByAppend(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops Puts at random under -race")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// A caller that appended past the capacity gives back the grown
	// slice through the same pointer; it lands in the class of its new
	// capacity when that is a class size.
	bp := Get(MinSize)
	*bp = append(*bp, make([]byte, MinSize+1)...)
	c := cap(*bp)
	Put(bp)
	if c&(c-1) != 0 {
		return // the runtime grew it to a size that is not a class: dropped
	}
	if got := Get(c); got != bp {
		t.Fatalf("grown buffer (cap %d) not reused", c)
	}
}

func TestPutNil(t *testing.T) {
	Put(nil)
	var b []byte
	Put(&b) // cap 0: dropped
}

func TestGetPutAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, n := range []int{1, 100, 4 << 10, MaxSize} {
		Put(Get(n)) // warm the class
		if a := testing.AllocsPerRun(1000, func() { Put(Get(n)) }); a != 0 {
			t.Errorf("Get(%d)+Put: %v allocations, want 0", n, a)
		}
	}
}

func BenchmarkGetPut(b *testing.B) {
	for _, n := range []int{16, 1 << 10, 64 << 10} {
		b.Run(sizeName(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bp := Get(n)
				*bp = append(*bp, 1)
				Put(bp)
			}
		})
	}
	b.Run("parallel/1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				bp := Get(1 << 10)
				*bp = append(*bp, 1)
				Put(bp)
			}
		})
	})
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
