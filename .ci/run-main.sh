#!/usr/bin/env bash
# The main job. Until the benchmark binary exists it says what is built.
set -euo pipefail
bin=$1
if [ -x "$bin/rawws-bench" ] && [ -x "$bin/rawws-echo" ]; then
  exec bash .ci/echo-bench.sh "$bin"
fi
echo "built so far:"; ls -1 "$bin"
