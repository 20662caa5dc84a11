#!/usr/bin/env bash
# Runs every Fuzz* target of the main module for FUZZTIME each (default 10s).
# Crashers land in the package's testdata/fuzz/ and fail the run.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" when -fuzztime ends while a worker is mid-call on a
# loaded machine (go.dev/issue/75804, fixed in Go 1.27): no input failed
# and none is written. Such a run counts as passed only when it wrote no
# new file under testdata/fuzz/NAME and the target then passes its whole
# corpus; anything else fails as before.
set -euo pipefail
t=${FUZZTIME:-10s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^./bench/' | sort | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $pkg $name ($t)"
    log=/tmp/fuzz-$name.log
    corpus=$pkg/testdata/fuzz/$name
    before=$(ls "$corpus" 2>/dev/null | sort || true)
    if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg" >"$log" 2>&1; then
      continue
    fi
    after=$(ls "$corpus" 2>/dev/null | sort || true)
    if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" &&
      ! grep -qE 'panic:|Failing input|--- FAIL: .*\(0\.' "$log" &&
      go test -count=1 -run="^${name}\$" "$pkg" >>"$log" 2>&1; then
      echo "  $name: the fuzz coordinator's deadline race (go.dev/issue/75804), no failing input; the corpus passes"
      continue
    fi
    cat "$log"
    exit 1
  done
done
