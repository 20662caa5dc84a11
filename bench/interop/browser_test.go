package interop

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestBrowser runs Debian's headless Chromium (driven by playwright-core,
// see browser/browser.mjs) against rawws-echo on every backend: the page,
// served from 127.0.0.1, checks that permessage-deflate was negotiated and
// echoes text and binary messages up to 1 MiB, a burst of 200 messages
// (context takeover in step) and a clean close.
func TestBrowser(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	for _, need := range []string{chromium, "browser/node_modules/playwright-core"} {
		if _, err := os.Stat(need); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing: run `make deps` (.ci/deps.sh installs chromium and runs npm ci in bench/interop/browser)", need)
			}
			t.Skipf("%s missing: run `make deps` to install the browser", need)
		}
	}
	var urls []string
	for _, b := range backends {
		urls = append(urls, "ws://"+startEcho(t, b)+"/")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"browser/browser.mjs"}, urls...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("browser interop: %v", err)
	}
}
