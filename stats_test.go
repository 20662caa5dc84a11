package rawws

import (
	"errors"
	"testing"

	"github.com/rawws/rawws/frame"
)

// BenchmarkSessionStatsPerFrame is what the counting hooks cost one frame
// in and one out for a session in a group: the adds on its shard of the
// group's counters, uncontended.
func BenchmarkSessionStatsPerFrame(b *testing.B) {
	g := &Group{}
	s := &Session{}
	g.join(s)
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
	g := &Group{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := &Session{}
		g.join(s)
		for pb.Next() {
			s.countIn(1, 131)
			s.sink.Load().queued(1)
			s.countOut(1, 127)
		}
	})
}

// BenchmarkGroupStats reads a group's counters with 1,000 live sessions
// in its registry.
func BenchmarkGroupStats(b *testing.B) {
	g := &Group{}
	for range 1000 {
		g.join(&Session{})
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Stats()
	}
}

// classifyClose sorts every way a session ends into one kind, drained or
// not.
func TestClassifyClose(t *testing.T) {
	cases := []struct {
		err     error
		drained bool
		want    closeKind
		code    frame.CloseCode
	}{
		{nil, false, closeNormal, 0},
		{nil, true, closeShutdown, 0},
		{&CloseError{Code: frame.CloseGoingAway}, true, closeShutdown, 0},
		{&CloseError{Code: frame.CloseNormal}, false, closeNormal, 0},
		{&CloseError{Code: frame.CloseInternalError}, false, closePeerError, 0},
		{ErrShutdownTimeout, true, closeTimeout, 0},
		{ErrPingTimeout, false, closeTimeout, 0},
		{ErrCloseTimeout, false, closeTimeout, 0},
		{ErrFrameTooBig, false, closeProtocol, frame.CloseTooBig},
		{ErrMessageTooBig, false, closeProtocol, frame.CloseTooBig},
		{&frame.ProtocolError{Code: frame.CloseInvalidPayload}, false, closeProtocol, frame.CloseInvalidPayload},
		{ErrQueueFull, false, closeQueueFull, 0},
		{errors.New("reset"), false, closeError, 0},
	}
	for _, tc := range cases {
		if k, c := classifyClose(tc.err, tc.drained); k != tc.want || c != tc.code {
			t.Errorf("classifyClose(%v, %v) = %d, %d; want %d, %d", tc.err, tc.drained, k, c, tc.want, tc.code)
		}
	}
}
