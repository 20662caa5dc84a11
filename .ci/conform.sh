#!/usr/bin/env bash
# Every conformance case, heavy and permessage-deflate ones included, against the built rawws-echo on
# every backend; -strict fails on NON-STRICT too.
set -euo pipefail
bin=$(mktemp -d)
trap 'rm -rf "$bin"; [ -n "${srv:-}" ] && kill $srv 2>/dev/null || true' EXIT
go build -o "$bin/" ./cmd/rawws-echo ./cmd/rawws-conform
for backend in ${BACKENDS:-netpoll epoll std}; do
  log="$bin/echo-$backend.log"
  "$bin/rawws-echo" -addr 127.0.0.1:0 -backend "$backend" >"$log" 2>&1 &
  srv=$!
  addr=
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/^listening on //p' "$log" | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$log"; echo "rawws-echo -backend $backend did not start" >&2; exit 1; }
  echo "conformance: rawws-echo -backend $backend"
  out="$bin/conform-$backend.txt"
  if ! "$bin/rawws-conform" -url "ws://$addr/" -deflate -strict -v >"$out" 2>&1; then
    # The cases that were not OK, with their traces, and the server's log.
    grep -v '^[0-9][0-9.]* *OK ' "$out" | head -n 200
    cat "$log"
    exit 1
  fi
  tail -n 1 "$out"
  kill $srv; wait $srv 2>/dev/null || true; srv=
done
