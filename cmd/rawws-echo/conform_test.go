package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rawws/rawws/cmd/internal/conform"
	"github.com/rawws/rawws/poller"
)

// TestConformance runs the RFC 6455 conformance suite against the echo
// server on every backend, in-process so the race detector watches the
// server while a hostile client pokes it. The megabyte cases are left to
// .ci/conform.sh, which runs every case against the built binary.
func TestConformance(t *testing.T) {
	for _, backend := range poller.Backends() {
		t.Run(backend, func(t *testing.T) {
			url := startEcho(t, backend) + "/"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := conform.Run(ctx, url, conform.Options{Exclude: conform.HeavyCases})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Failed()) > 0 || len(rep.NonStrict()) > 0 {
				rep.WriteText(os.Stderr, false)
				t.Fatalf("%s: %d failed, %d non-strict", backend, len(rep.Failed()), len(rep.NonStrict()))
			}
			t.Logf("%s: %s", backend, rep.Summary())
		})
	}
}
