package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws"
)

// maxConnectAttempts bounds the connect scenario per source address: each
// closed client connection leaves a port in TIME_WAIT, and one source
// address has about 28,000 ephemeral ports.
const maxConnectAttempts = 20000

// runConnect keeps c.conns workers opening a connection, closing it with
// the closing handshake and opening the next, for c.duration, so at most
// c.conns connections are open at once (what -conns means in every
// scenario; -ramp does not apply). It reports handshakes per second and
// handshake latency; Connected is the most connections open at once, and
// Connects, apart from it, the handshakes made in all.
func runConnect(ctx context.Context, c config) (report, error) {
	p := newProgress(c.quiet)
	l := &load{base: time.Now()}
	var attempts, open, peak, unfinished atomic.Int64
	cpu := startCPU(c.serverPID)
	start := time.Now()
	end := start.Add(c.duration)
	var wg sync.WaitGroup
	for range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				n := attempts.Add(1)
				if n > maxConnectAttempts*int64(c.sources) {
					break
				}
				t := time.Now()
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				s, _, err := rawws.Dial(dctx, c.url, rawws.DialOptions{Backend: c.backend, LocalAddr: c.localAddr(int(n)),
					Options: rawws.Options{MessageHandler: rawws.MessageFuncs{}}})
				cancel()
				if err != nil {
					l.errs.Add(1)
					continue
				}
				l.hist.Record(time.Since(t))
				l.msgs.Add(1)
				now := open.Add(1)
				for {
					m := peak.Load()
					if now <= m || peak.CompareAndSwap(m, now) {
						break
					}
				}
				unfinished.Add(closeAll([]*rawws.Session{s}))
				open.Add(-1)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			el := time.Since(start)
			p.line("connect: %s %5.1fs  %d open  %d handshakes  %.0f/s  errors %d", bar(int(el), int(c.duration)),
				el.Seconds(), open.Load(), l.msgs.Load(), float64(l.msgs.Load())/el.Seconds(), l.errs.Load())
		}
	}
	p.done()
	el := time.Since(start)
	r := report{Scenario: "connect", URL: c.url, Conns: c.conns, Connected: int(peak.Load()), Duration: el.Seconds(),
		Messages: l.msgs.Load(), Connects: l.msgs.Load(), Errors: l.errs.Load(), CloseUnfinished: unfinished.Load()}
	r.ConnsPerSec = float64(l.msgs.Load()) / el.Seconds()
	r.MsgsPerSec = r.ConnsPerSec
	cpu.stop(&r)
	r.fill(&l.hist)
	if attempts.Load() > maxConnectAttempts*int64(c.sources) {
		r.Note = "stopped at the attempt cap"
	}
	return r, nil
}
