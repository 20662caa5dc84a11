package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rawws/rawws"
	"github.com/rawws/rawws/poller"
)

// httpConn keeps c.pipeline keep-alive GETs in flight on one connection and
// reads the answers (Content-Length bodies only, which is what the servers
// under test send for fixed paths).
type httpConn struct {
	l    *load
	req  []byte // pipeline copies of the request, written in one write
	one  []byte
	sent []int64
	head int
	n    int
	body int // body bytes still to skip in the current response
}

func (h *httpConn) OnOpen(c poller.Conn) {
	now := h.l.now()
	for i := range h.sent {
		h.sent[i] = now
	}
	h.n = len(h.sent)
	if _, err := c.Write(h.req); err != nil {
		h.l.errs.Add(1)
	}
}

func (h *httpConn) OnData(c poller.Conn, b []byte) int {
	used := 0
	for {
		if h.body > 0 {
			k := min(h.body, len(b)-used)
			h.body -= k
			used += k
			if h.body > 0 {
				return used
			}
			h.done(c)
			continue
		}
		end := bytes.Index(b[used:], []byte("\r\n\r\n"))
		if end < 0 {
			if len(b)-used > 64<<10 {
				h.l.errs.Add(1)
				c.Close()
				return len(b)
			}
			return used
		}
		head := b[used : used+end]
		used += end + 4
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) && !bytes.HasPrefix(head, []byte("HTTP/1.1 206")) {
			h.l.errs.Add(1)
		}
		n, ok := contentLength(head)
		if !ok {
			h.l.errs.Add(1)
			c.Close()
			return len(b)
		}
		if n == 0 {
			h.done(c)
			continue
		}
		h.body = n
	}
}

// done accounts one response and sends the next request.
func (h *httpConn) done(c poller.Conn) {
	if h.n == 0 {
		h.l.errs.Add(1)
		return
	}
	t := h.sent[h.head]
	h.head = (h.head + 1) % len(h.sent)
	h.n--
	if h.l.measure.Load() {
		h.l.hist.Record(time.Duration(h.l.now() - t))
		h.l.msgs.Add(1)
	}
	if h.l.stopping.Load() {
		return
	}
	h.sent[(h.head+h.n)%len(h.sent)] = h.l.now()
	h.n++
	if _, err := c.Write(h.one); err != nil {
		h.l.errs.Add(1)
	}
}

func (h *httpConn) OnClose(c poller.Conn, err error) {
	if !h.l.stopping.Load() {
		h.l.errs.Add(1)
	}
}

// contentLength finds Content-Length in a response head, case-insensitively.
func contentLength(head []byte) (int, bool) {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		name, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

func runHTTP(ctx context.Context, c config) (report, error) {
	p := newProgress(c.quiet)
	u, err := url.Parse(c.url)
	if err != nil {
		return report{}, err
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	eng, err := rawws.EngineFor(c.backend)
	if err != nil {
		return report{}, err
	}
	l := &load{base: time.Now()}
	one := []byte("GET " + c.path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n")
	conns := make([]poller.Conn, 0, c.conns)
	var failed int64
	for i := 0; i < c.conns && ctx.Err() == nil; i++ {
		h := &httpConn{l: l, req: bytes.Repeat(one, c.pipeline), one: one, sent: make([]int64, c.pipeline)}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := eng.Dial(dctx, "tcp", host, h)
		cancel()
		if err != nil {
			failed++
			continue
		}
		conns = append(conns, conn)
		if i%50 == 0 {
			p.line("http: connecting %s %d/%d", bar(i, c.conns), i, c.conns)
		}
	}
	p.done()
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	if len(conns) == 0 {
		return report{}, errors.New("no connection succeeded")
	}
	sleepCtx(ctx, c.warmup)
	cpu := startCPU(c.serverPID)
	l.measure.Store(true)
	start := time.Now()
	var last atomic.Int64
	for time.Since(start) < c.duration && ctx.Err() == nil {
		sleepCtx(ctx, 500*time.Millisecond)
		m := l.msgs.Load()
		p.line("http: %s %5.1fs  %d req/s  p99 %.2f ms  errors %d", bar(int(time.Since(start)), int(c.duration)),
			time.Since(start).Seconds(), (m-last.Swap(m))*2, us(l.hist.Quantile(0.99))/1000, l.errs.Load())
	}
	r := report{Scenario: "http", URL: c.url, Conns: c.conns, Connected: len(conns), Inflight: c.pipeline, Errors: failed}
	r.end(l, start, cpu, p)
	r.Note = fmt.Sprintf("GET %s, pipeline %d", c.path, c.pipeline)
	return r, nil
}
