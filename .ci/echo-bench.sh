#!/usr/bin/env bash
# The main job (`make run`): start rawws-echo on 127.0.0.1, ramp 1,000
# connections, echo 64 B and 4 KiB messages for 10 s each, print the table,
# stop everything. Tunable through the environment.
set -euo pipefail
bin=$1
conns=${CONNS:-1000}
duration=${DURATION:-10s}
backend=${BACKEND:-}
sizes=${SIZES:-64,4096}
log=$(mktemp)
args=(-addr 127.0.0.1:0)
[ -n "$backend" ] && args+=(-backend "$backend")
"$bin/rawws-echo" "${args[@]}" >"$log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -f "$log"' EXIT
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^listening on //p' "$log" | head -1)
  [ -n "$addr" ] && break
  kill -0 $srv 2>/dev/null || { cat "$log"; echo "rawws-echo exited early" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "rawws-echo did not start" >&2; exit 1; }
echo "rawws-echo (pid $srv) listening on $addr; $conns connections, ${duration} per size"
"$bin/rawws-bench" -url "ws://$addr/" -scenario echo -conns "$conns" -sizes "$sizes" \
  -duration "$duration" -server-pid "$srv"
