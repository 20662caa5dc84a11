package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rawws/rawws/internal/conform"
	"github.com/rawws/rawws/poller"
)

// TestConformanceDeflate runs the permessage-deflate sections (12, 13) of
// the conformance suite against the echo server on every backend: each
// takeover and window combination, sizes up to 16 KiB here (under the race
// detector compress/flate is slow; rawws-conform -deflate against the
// binary runs the 64 KiB to 1 MiB and bomb cases), text and binary, whole
// and fragmented, and the extension's protocol errors.
func TestConformanceDeflate(t *testing.T) {
	light := append([]string{"12.*.7", "12.*.8", "13.*.7", "13.*.8"}, conform.HeavyCases...)
	for _, backend := range poller.Backends() {
		t.Run(backend, func(t *testing.T) {
			url := startEcho(t, backend) + "/"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := conform.Run(ctx, url, conform.Options{Cases: []string{"12", "13"}, Exclude: light, Deflate: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed()) > 0 || len(rep.NonStrict()) > 0 {
				rep.WriteText(os.Stderr, true)
				t.Fatalf("%s: %d failed, %d non-strict", backend, len(rep.Failed()), len(rep.NonStrict()))
			}
			t.Logf("%s: %s", backend, rep.Summary())
		})
	}
}
