package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/cmd/internal/hist"
	"github.com/rawws/rawws/frame"
)

// load is what every connection of a scenario shares.
type load struct {
	hist     hist.Histogram
	msgs     atomic.Int64 // echoes received while measuring
	bytes    atomic.Int64
	errs     atomic.Int64
	measure  atomic.Bool // count what arrives
	stopping atomic.Bool // send no more
	base     time.Time
}

func (l *load) now() int64 { return int64(time.Since(l.base)) }

// echoConn keeps inflight messages in flight on one session. Its methods run
// on the session's loop, one at a time, so the ring needs no lock.
type echoConn struct {
	l       *load
	payload []byte
	sent    []int64 // send times, a ring of len inflight
	head, n int
}

func (e *echoConn) send(s *rawws.Session) {
	if e.l.stopping.Load() {
		return
	}
	e.sent[(e.head+e.n)%len(e.sent)] = e.l.now()
	e.n++
	// SendBinary hands the payload over until written; the client masks into
	// a buffer of its own, so one shared read-only payload serves everyone.
	if err := s.SendBinary(context.Background(), e.payload); err != nil {
		e.n--
		if !e.l.stopping.Load() {
			e.l.errs.Add(1)
		}
	}
}

func (e *echoConn) OnOpen(s *rawws.Session) {
	for range len(e.sent) {
		e.send(s)
	}
}

func (e *echoConn) OnMessage(s *rawws.Session, op frame.Opcode, p []byte) {
	if e.n == 0 || op != frame.OpBinary || len(p) != len(e.payload) {
		e.l.errs.Add(1)
		return
	}
	t := e.sent[e.head]
	e.head = (e.head + 1) % len(e.sent)
	e.n--
	if e.l.measure.Load() {
		e.l.hist.Record(time.Duration(e.l.now() - t))
		e.l.msgs.Add(1)
		e.l.bytes.Add(int64(len(p)))
	}
	e.send(s)
}

func (e *echoConn) OnClose(s *rawws.Session, err error) {
	if err != nil && !e.l.stopping.Load() && !rawws.IsNormalClosure(err) {
		e.l.errs.Add(1)
	}
}

// connectAll opens c.conns sessions, c.ramp handshakes at a time, showing a
// progress bar; it returns the sessions that connected.
func connectAll(ctx context.Context, c config, p *progress, what string, handler func(i int) rawws.MessageHandler) ([]*rawws.Session, int64) {
	sessions := make([]*rawws.Session, c.conns)
	var next, done, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range min(c.ramp, c.conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.conns || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				s, _, err := rawws.Dial(dctx, c.url, rawws.DialOptions{
					Backend:   c.backend,
					LocalAddr: c.localAddr(i),
					Options:   rawws.Options{MessageHandler: handler(i), MaxMessageSize: 64 << 20},
				})
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				sessions[i] = s
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d := int(done.Load())
				p.line("%s: connecting %s %d/%d (failed %d)", what, bar(d, c.conns), d, c.conns, failed.Load())
			}
		}
	}()
	wg.Wait()
	close(stop)
	p.done()
	if err, ok := firstErr.Load().(error); ok && err != nil {
		fmt.Fprintf(stderr, "rawws-bench: %d connections failed; first: %v\n", failed.Load(), err)
	}
	out := sessions[:0]
	for _, s := range sessions {
		if s != nil {
			out = append(out, s)
		}
	}
	return out, failed.Load()
}

func runEcho(ctx context.Context, c config) (report, error) {
	p := newProgress(c.quiet)
	l := &load{base: time.Now()}
	payload := make([]byte, c.size)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	what := fmt.Sprintf("echo %d B", c.size)
	sessions, failed := connectAll(ctx, c, p, what, func(int) rawws.MessageHandler {
		return &echoConn{l: l, payload: payload, sent: make([]int64, c.inflight)}
	})
	if len(sessions) == 0 {
		return report{}, errors.New("no connection succeeded")
	}
	l.errs.Add(failed)
	sleepCtx(ctx, c.warmup)
	cpu := startCPU(c.serverPID)
	l.measure.Store(true)
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	last, lastAt := int64(0), start
	for time.Since(start) < c.duration && ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		m, now := l.msgs.Load(), time.Now()
		rate := float64(m-last) / now.Sub(lastAt).Seconds()
		last, lastAt = m, now
		p.line("%s: %s %5.1fs  conns %d  %.0f msg/s  p99 %.2f ms  errors %d", what,
			bar(int(now.Sub(start)), int(c.duration)), now.Sub(start).Seconds(), len(sessions), rate,
			us(l.hist.Quantile(0.99))/1000, l.errs.Load())
	}
	tick.Stop()
	r := report{Scenario: "echo", URL: c.url, Conns: c.conns, Connected: len(sessions), Size: c.size, Inflight: c.inflight}
	r.end(l, start, cpu, p)
	r.CloseUnfinished = closeAll(sessions)
	return r, nil
}

// end closes a measured window: it stops counting and sending, then fills
// r with the window's rates, errors, latency percentiles and CPU shares.
func (r *report) end(l *load, start time.Time, cpu *cpuMeter, p *progress) {
	l.measure.Store(false)
	el := time.Since(start)
	cpu.stop(r)
	l.stopping.Store(true)
	p.done()
	r.Duration = el.Seconds()
	r.Messages = l.msgs.Load()
	r.MsgsPerSec = float64(r.Messages) / el.Seconds()
	r.MBPerSec = float64(l.bytes.Load()) / el.Seconds() / 1e6
	r.Errors += l.errs.Load()
	r.fill(&l.hist)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
