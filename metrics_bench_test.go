package rawws

import "testing"

// BenchmarkSessionStatsPerFrame is what the counting hooks cost one frame
// in and one out for a registered session: the adds on its shard of the
// server's counters, uncontended.
func BenchmarkSessionStatsPerFrame(b *testing.B) {
	srv := &Server{}
	s := &Session{}
	srv.register(s)
	b.ReportAllocs()
	for b.Loop() {
		s.countIn(1, 131)
		s.sink.Load().queued(1)
		s.countOut(1, 127)
	}
}

// BenchmarkSessionStatsParallel is the same from every P at once, each on
// its own session: what sharing the shards costs when loops collide.
func BenchmarkSessionStatsParallel(b *testing.B) {
	srv := &Server{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := &Session{}
		srv.register(s)
		for pb.Next() {
			s.countIn(1, 131)
			s.sink.Load().queued(1)
			s.countOut(1, 127)
		}
	})
}

// BenchmarkServerMetrics reads a server's counters with 1,000 live
// sessions in its registry.
func BenchmarkServerMetrics(b *testing.B) {
	srv := &Server{}
	for range 1000 {
		srv.register(&Session{})
	}
	b.ReportAllocs()
	for b.Loop() {
		srv.Metrics()
	}
}
