package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/cmd/internal/procstat"
)

// runIdle holds c.conns upgraded connections that send nothing and, given
// the server's pid, reports its RSS growth per connection c.settle after
// the last one connected (the method of BASELINES.md).
func runIdle(ctx context.Context, c config) (report, error) {
	p := newProgress(c.quiet)
	var before int64
	if c.serverPID > 0 {
		var err error
		if before, err = procstat.RSS(c.serverPID); err != nil {
			return report{}, fmt.Errorf("server RSS: %w", err)
		}
	}
	l := &load{}
	sessions, failed := connectAll(ctx, c, p, "idle", func(int) rawws.MessageHandler {
		return rawws.MessageFuncs{Close: func(s *rawws.Session, err error) {
			if !l.stopping.Load() {
				l.errs.Add(1)
			}
		}}
	})
	if len(sessions) == 0 {
		return report{}, errors.New("no connection succeeded")
	}
	start := time.Now()
	for time.Since(start) < c.settle && ctx.Err() == nil {
		p.line("idle: holding %d connections, %.1fs / %v", len(sessions), time.Since(start).Seconds(), c.settle)
		sleepCtx(ctx, 250*time.Millisecond)
	}
	p.done()
	r := report{Scenario: "idle", URL: c.url, Conns: c.conns, Connected: len(sessions), Errors: failed + l.errs.Load(),
		Duration: time.Since(start).Seconds()}
	var rssErr error
	if c.serverPID > 0 {
		var after int64
		if after, rssErr = procstat.RSS(c.serverPID); rssErr == nil {
			r.RSSPerConn = float64(after-before) / float64(len(sessions))
		}
	} else {
		r.Note = "no -server-pid: RSS not measured"
	}
	l.stopping.Store(true)
	r.CloseUnfinished = closeAll(sessions)
	if rssErr != nil {
		return report{}, fmt.Errorf("server RSS: %w", rssErr)
	}
	return r, nil
}
