package rawws

import "testing"

// BenchmarkSessionStatsPerFrame is what the counting hooks cost one frame
// in and one out: uncontended atomic adds on the session's own counters.
func BenchmarkSessionStatsPerFrame(b *testing.B) {
	var st sessionStats
	b.ReportAllocs()
	for b.Loop() {
		st.framesIn.Add(1)
		st.bytesIn.Add(131)
		st.queued(1)
		st.framesOut.Add(1)
		st.bytesOut.Add(127)
	}
}

// BenchmarkServerMetrics reads a server's counters with 1,000 live
// sessions in its registry.
func BenchmarkServerMetrics(b *testing.B) {
	srv := &Server{sessions: map[*Session]*tracked{}}
	for range 1000 {
		srv.sessions[&Session{}] = &tracked{}
	}
	b.ReportAllocs()
	for b.Loop() {
		srv.Metrics()
	}
}
