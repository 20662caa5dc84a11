#!/usr/bin/env bash
# Builds the floor servers into the directory given as the only argument:
#   floor-epoll  always (needs only a C compiler)
#   floor-uring  when liburing is found (Debian: liburing-dev); otherwise it
#                is skipped with a message on stderr and the script still
#                succeeds, so callers tell "no liburing" from "broken build"
#                by whether the binary exists.
# CC picks the compiler (default gcc); FLOOR_CFLAGS adds flags, e.g.
# FLOOR_CFLAGS='-fsanitize=address,undefined -g' for a checked build (the
# Go test uses this script, so `FLOOR_CFLAGS=... go test ./floor` runs the
# whole suite against it). Warnings are errors.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-gcc}
flags=(-O2 -Wall -Wextra -Werror -std=gnu11 -pthread)
# shellcheck disable=SC2206 # word splitting of the extra flags is the point
flags+=(${FLOOR_CFLAGS:-})
mkdir -p "$out"

"$cc" "${flags[@]}" -o "$out/floor-epoll" "$here/src/epoll.c" "$here/src/ws.c"

# Probe: does a program using the ring calls this server needs compile and
# link? (The buffer-ring helpers came with liburing 2.2/2.3.)
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/p.c" <<'EOF'
#include <liburing.h>
int main(void)
{
	struct io_uring r;
	struct io_uring_sqe *s = 0;
	if (0)
		io_uring_prep_recv_multishot(s, 0, 0, 0, 0);
	return io_uring_queue_init(1, &r, 0) < 0 && io_uring_buf_ring_mask(1) == 0;
}
EOF
if ! "$cc" -o "$probe/p" "$probe/p.c" -luring >"$probe/log" 2>&1; then
	echo "build.sh: liburing (>= 2.3) not found, floor-uring skipped (Debian: apt-get install liburing-dev)" >&2
	exit 0
fi
"$cc" "${flags[@]}" -o "$out/floor-uring" "$here/src/uring.c" "$here/src/ws.c" -luring
