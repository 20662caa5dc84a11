#!/usr/bin/env bash
# Runs every Fuzz* target of the main module for FUZZTIME each (default 10s).
# Crashers land in the package's testdata/fuzz/ and fail the run.
set -euo pipefail
t=${FUZZTIME:-10s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^./bench/' | sort | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $pkg $name ($t)"
    go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg" >/tmp/fuzz-$name.log 2>&1 || { cat /tmp/fuzz-$name.log; exit 1; }
  done
done
