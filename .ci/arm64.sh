#!/usr/bin/env bash
# Cross-compiles the packages with arm64 assembly and runs their tests under
# qemu-aarch64-static, so the NEON paths really execute on this x86 machine.
set -euo pipefail
command -v qemu-aarch64-static >/dev/null 2>&1 || bash .ci/deps.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for pkg in . ./frame; do
  name=$(echo "$pkg" | tr './' '_x')
  GOARCH=arm64 go test -c -o "$out/$name.test" "$pkg"
  [ -f "$out/$name.test" ] || continue   # package without tests
  echo "arm64: $pkg"
  (cd "$pkg" && qemu-aarch64-static "$out/$name.test" -test.count=1 -test.short)
done
