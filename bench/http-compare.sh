#!/usr/bin/env bash
# HTTP/1.1 keep-alive load with wrk against rawws's server (inline handlers,
# netpoll and epoll), fasthttp and net/http, interleaved and repeated so the
# ratios come from one run. Prints one row per run and the medians.
#   bash http-compare.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-3}
secs=${2:-5}
command -v wrk >/dev/null || { echo "wrk missing: run 'make deps' at the top" >&2; exit 1; }
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
(cd .. && go build -o "$bin/benchserver" ./cmd/rawws-benchserver)
go build -o "$bin/http-fasthttp" ./cmd/http-fasthttp
cat >"$bin/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
LUA
port=18080
# start runs server $1 with a $2-byte body; it sets $srv (the server's own
# pid: each branch execs, so the background job is the server) and $addr.
start() {
  port=$((port+1)); addr=127.0.0.1:$port
  case $1 in
    rawws-netpoll) exec "$bin/benchserver" -impl rawws -backend netpoll -addr $addr -size $2 ;;
    rawws-epoll)   exec "$bin/benchserver" -impl rawws -backend epoll -addr $addr -size $2 ;;
    nethttp)       exec "$bin/benchserver" -impl nethttp -addr $addr -size $2 ;;
    fasthttp)      exec "$bin/http-fasthttp" -addr $addr -size $2 ;;
  esac >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://$addr/" && return 0; sleep 0.1; done
  echo "$1 did not start" >&2; return 1
}
out=$bin/rows.txt
for round in $(seq "$rounds"); do
  for sc in "1000 13 -" "1000 4096 -" "100 13 pipeline"; do
    set -- $sc; conns=$1 size=$2 pipe=$3
    for s in rawws-netpoll rawws-epoll fasthttp nethttp; do
      start $s $size
      cpu0=$(awk '{print $14+$15}' /proc/$srv/stat)
      extra=(); [ "$pipe" = pipeline ] && extra=(-s "$bin/pipeline.lua")
      res=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "${extra[@]}" "http://$addr/" 2>&1)
      cpu1=$(awk '{print $14+$15}' /proc/$srv/stat)
      kill $srv; wait $srv 2>/dev/null || true
      rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
      p99=$(echo "$res" | awk '$1=="99%" {print $2}')
      cpu=$(awk -v a=$cpu0 -v b=$cpu1 -v s=$secs 'BEGIN{printf "%.2f", (b-a)/100/s}')
      echo "round=$round conns=$conns size=$size mode=$pipe server=$s rps=$rps p99=$p99 cpu=$cpu" | tee -a "$out"
    done
  done
done
echo
echo "medians of the rounds: requests/s, ratio to fasthttp, server CPU in cores:"
python3 - "$out" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split())
    rows[(kv["conns"], kv["size"], kv["mode"])].append(kv)
for key, runs in rows.items():
    by = collections.defaultdict(list)
    for r in runs:
        by[r["server"]].append(r)
    base = statistics.median(float(r["rps"]) for r in by["fasthttp"]) if by["fasthttp"] else 0
    print(f"| {key[0]} conns, {key[1]} B{', pipelined x16' if key[2]=='pipeline' else ''} | " + " | ".join(
        f"{s} {statistics.median(float(r['rps']) for r in rs)/1000:.1f}k ({statistics.median(float(r['rps']) for r in rs)/base:.2f}x fasthttp, cpu {statistics.median(float(r['cpu']) for r in rs):.2f})"
        for s, rs in by.items()) + " |")
PY
