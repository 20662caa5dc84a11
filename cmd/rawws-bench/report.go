package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rawws/rawws/cmd/internal/hist"
)

// report is the result of one scenario; its JSON form is what
// bench/cmd/compare reads, so field names are a contract.
type report struct {
	Scenario   string  `json:"scenario"`
	URL        string  `json:"url"`
	Conns      int     `json:"conns"`
	Connected  int     `json:"connected"`
	Size       int     `json:"size"`
	Inflight   int     `json:"inflight"`
	Duration   float64 `json:"duration_s"`
	Messages   int64   `json:"messages"`
	MsgsPerSec float64 `json:"msgs_per_s"`
	MBPerSec   float64 `json:"mb_per_s"`
	P50us      float64 `json:"p50_us"`
	P90us      float64 `json:"p90_us"`
	P99us      float64 `json:"p99_us"`
	P999us     float64 `json:"p999_us"`
	MaxUs      float64 `json:"max_us"`
	Errors     int64   `json:"errors"`
	ServerCPU  float64 `json:"server_cpu"` // cores busy on average; 0 when unknown
	ClientCPU  float64 `json:"client_cpu"`
	// Idle scenario: server RSS growth per connection, bytes.
	RSSPerConn float64 `json:"server_rss_per_conn,omitempty"`
	// Connect scenario: connections (handshake done) per second, and how
	// many were made in all. Conns there is what -conns means everywhere,
	// the connections open at once, and Connected the most that were.
	ConnsPerSec float64 `json:"conns_per_s,omitempty"`
	Connects    int64   `json:"connects,omitempty"`
	// CloseUnfinished counts WebSocket connections that did not end
	// cleanly within closeWait of the Close 1000 that ends every scenario
	// (see closeAll).
	CloseUnfinished int64  `json:"close_unfinished"`
	Note            string `json:"note,omitempty"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r *report) fill(h *hist.Histogram) {
	r.P50us = us(h.Quantile(0.50))
	r.P90us = us(h.Quantile(0.90))
	r.P99us = us(h.Quantile(0.99))
	r.P999us = us(h.Quantile(0.999))
	r.MaxUs = us(h.Max())
}

func printJSON(w io.Writer, rs []report) {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		_ = enc.Encode(r)
	}
}

// printTable writes the human-readable summary.
func printTable(w io.Writer, rs []report) {
	ms := func(u float64) string { return fmt.Sprintf("%.2f", u/1000) }
	cpu := func(c float64) string {
		if c == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", c)
	}
	rows := [][]string{{"scenario", "conns", "size", "msgs/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "srv CPU", "cli CPU", "extra"}}
	for _, r := range rs {
		extra := ""
		switch {
		case r.RSSPerConn != 0:
			extra = fmt.Sprintf("%.0f B/conn", r.RSSPerConn)
		case r.ConnsPerSec != 0:
			extra = fmt.Sprintf("%d connects in all, %.0f conn/s", r.Connects, r.ConnsPerSec)
		}
		if r.CloseUnfinished != 0 {
			extra = strings.TrimSpace(fmt.Sprintf("%s %d closing handshakes unfinished", extra, r.CloseUnfinished))
		}
		if r.Note != "" {
			extra = strings.TrimSpace(extra + " " + r.Note)
		}
		rows = append(rows, []string{r.Scenario, fmt.Sprint(r.Connected), fmt.Sprint(r.Size),
			fmt.Sprintf("%.0f", r.MsgsPerSec), fmt.Sprintf("%.1f", r.MBPerSec),
			ms(r.P50us), ms(r.P90us), ms(r.P99us), ms(r.P999us), ms(r.MaxUs),
			fmt.Sprint(r.Errors), cpu(r.ServerCPU), cpu(r.ClientCPU), extra})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for n, row := range rows {
		for i, c := range row {
			if i == 0 || i == len(row)-1 {
				fmt.Fprintf(w, "%-*s  ", width[i], c)
			} else {
				fmt.Fprintf(w, "%*s  ", width[i], c)
			}
		}
		fmt.Fprintln(w)
		if n == 0 {
			total := 0
			for _, x := range width {
				total += x + 2
			}
			fmt.Fprintln(w, strings.Repeat("-", total))
		}
	}
}
