#!/usr/bin/env bash
# Installs what the tests need beyond Go, only when it is missing, so a fresh
# Debian machine needs nothing but `make test`. Idempotent and quiet.
set -euo pipefail
need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
/usr/bin/python3 -c 'import h11' >/dev/null 2>&1 || need+=(python3-h11)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# >>> permessage-deflate browser interop (bench/interop/browser_test.go)
# Debian's Chromium: playwright-core drives it; it downloads no browser.
[ -x /usr/bin/chromium ] || need+=(chromium)
# <<< permessage-deflate browser interop
# >>> reference floors (bench/floor): the C echo servers and compare's syscall counts
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/include/liburing.h ] || need+=(liburing-dev)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
# <<< reference floors
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "deps: installing ${need[*]}"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Node's ws for the interop test (bench/interop/node), pinned by its lock file.
if command -v npm >/dev/null 2>&1 && [ ! -d bench/interop/node/node_modules/ws ]; then
  (cd bench/interop/node && npm ci --no-audit --no-fund --silent >/dev/null)
fi
# >>> permessage-deflate browser interop: playwright-core, pinned by its lock file.
if command -v npm >/dev/null 2>&1 && [ ! -d bench/interop/browser/node_modules/playwright-core ]; then
  (cd bench/interop/browser && npm ci --no-audit --no-fund --silent >/dev/null)
fi
# <<< permessage-deflate browser interop
