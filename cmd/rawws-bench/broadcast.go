package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/cmd/internal/hist"
	"github.com/rawws/rawws/frame"
)

// fanout is the broadcast scenario's shared state: one message in flight,
// published by one connection through the server's /broadcast path; when
// every subscriber (the publisher included) has it, the next one goes.
type fanout struct {
	l        *load
	want     int64 // receivers of each message
	seq      atomic.Uint64
	got      atomic.Int64
	sentAt   atomic.Int64
	reachAll hist.Histogram // publish to last receiver
	pub      atomic.Pointer[rawws.Session]
	payload  []byte
	rounds   atomic.Int64
}

// send publishes the next message: sequence number and send time first.
func (f *fanout) send() {
	s := f.pub.Load()
	if s == nil || f.l.stopping.Load() {
		return
	}
	p := make([]byte, len(f.payload))
	copy(p, f.payload)
	seq := f.seq.Add(1)
	now := f.l.now()
	binary.LittleEndian.PutUint64(p, seq)
	binary.LittleEndian.PutUint64(p[8:], uint64(now))
	f.got.Store(0)
	f.sentAt.Store(now)
	if err := s.SendBinary(context.Background(), p); err != nil && !f.l.stopping.Load() {
		f.l.errs.Add(1)
	}
}

// receiver is one subscriber; OnMessage runs on its loop.
type receiver struct{ f *fanout }

func (r receiver) OnOpen(*rawws.Session) {}

func (r receiver) OnMessage(s *rawws.Session, op frame.Opcode, p []byte) {
	f := r.f
	if len(p) < 16 || binary.LittleEndian.Uint64(p) != f.seq.Load() {
		f.l.errs.Add(1) // late, lost or foreign: every message must reach everyone in order
		return
	}
	now := f.l.now()
	if f.l.measure.Load() {
		f.l.hist.Record(time.Duration(now - int64(binary.LittleEndian.Uint64(p[8:]))))
		f.l.msgs.Add(1)
		f.l.bytes.Add(int64(len(p)))
	}
	if f.got.Add(1) == f.want {
		if f.l.measure.Load() {
			f.reachAll.Record(time.Duration(now - f.sentAt.Load()))
			f.rounds.Add(1)
		}
		f.send()
	}
}

func (r receiver) OnClose(s *rawws.Session, err error) {
	if !r.f.l.stopping.Load() {
		r.f.l.errs.Add(1)
	}
}

// runBroadcast connects c.conns subscribers to the server's /broadcast
// path; one of them publishes a message of c.size bytes, and the next as
// soon as all have it. It reports deliveries per second, the latency of
// each delivery and, in the note, how long a message takes to reach all.
func runBroadcast(ctx context.Context, c config) (report, error) {
	if c.size < 16 {
		c.size = 16
	}
	u, err := url.Parse(c.url)
	if err != nil {
		return report{}, err
	}
	u.Path = "/broadcast"
	c.url = u.String()
	p := newProgress(c.quiet)
	l := &load{base: time.Now()}
	f := &fanout{l: l, want: int64(c.conns), payload: make([]byte, c.size)}
	sessions, failed := connectAll(ctx, c, p, fmt.Sprintf("broadcast %d B", c.size), func(int) rawws.MessageHandler {
		return receiver{f}
	})
	if len(sessions) == 0 {
		return report{}, errors.New("no connection succeeded")
	}
	f.want = int64(len(sessions))
	l.errs.Add(failed)
	// The server subscribes a session in its OnOpen, which can trail the
	// handshake: give the last ones a moment before the first publish.
	sleepCtx(ctx, 500*time.Millisecond)
	f.pub.Store(sessions[0])
	f.send()
	sleepCtx(ctx, c.warmup)
	cpu := startCPU(c.serverPID)
	l.measure.Store(true)
	start := time.Now()
	for time.Since(start) < c.duration && ctx.Err() == nil {
		sleepCtx(ctx, 500*time.Millisecond)
		p.line("broadcast: %s %5.1fs  %d receivers  %d messages  reach-all p50 %.2f ms  errors %d",
			bar(int(time.Since(start)), int(c.duration)), time.Since(start).Seconds(), len(sessions),
			f.rounds.Load(), us(f.reachAll.Quantile(0.5))/1000, l.errs.Load())
	}
	r := report{Scenario: "broadcast", URL: c.url, Conns: c.conns, Connected: len(sessions), Size: c.size}
	r.end(l, start, cpu, p)
	r.Note = fmt.Sprintf("%d broadcasts, reach-all p50 %.2f ms p99 %.2f ms", f.rounds.Load(),
		us(f.reachAll.Quantile(0.5))/1000, us(f.reachAll.Quantile(0.99))/1000)
	r.CloseUnfinished = closeAll(sessions)
	return r, nil
}
