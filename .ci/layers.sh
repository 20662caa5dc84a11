#!/usr/bin/env bash
# layers.sh: the imports run one way, cmd → server → root → http → poller →
# {frame, internal} (DESIGN.md). For each layer it lists, with go list
# -deps, what the layer's packages import of the module, and fails when one
# reaches a layer above it, or a backend nobody asked for: a program that
# imports only the library (root, server, http) never links netpoll.
set -euo pipefail
cd "$(dirname "$0")/.."

mod=github.com/rawws/rawws
fail=0

# deps PKG...: the module's packages that PKG... import, directly or not,
# themselves excluded.
deps() {
	go list -deps "$@" | grep "^$mod\(/\|$\)" | grep -vxF -f <(go list "$@") || true
}

# forbid LAYER PATTERN WHY: no package of LAYER may depend on a package
# whose import path matches PATTERN (an extended regexp).
forbid() {
	local layer=$1 pattern=$2 why=$3 bad
	# shellcheck disable=SC2086
	bad=$(deps $layer | grep -E "$pattern" || true)
	if [ -n "$bad" ]; then
		echo "layers: $layer imports $why:" >&2
		echo "$bad" | sed 's/^/  /' >&2
		fail=1
	fi
}

# frame/ is pure: nothing of the project but internal/.
forbid "./frame/..." "^$mod(/(server|http|poller|cmd)(/|$)|$)" "more than internal/"
# poller/ knows no WebSocket, HTTP or server.
forbid "./poller/..." "^$mod(/(server|http|cmd)(/|$)|$)" "the root, http/ or server/"
# http/ is below the root and the server.
forbid "./http/..." "^$mod(/(server|cmd)(/|$)|$)" "the root or server/"
# The root package knows nothing of a server or a command.
forbid "." "^$mod/(server|cmd)(/|$)" "server/ or cmd/"
# The composition is below the commands.
forbid "./server/..." "^$mod/cmd(/|$)" "cmd/"
# Backends are linked only when used: the library links epoll (Linux) and std.
for p in . ./server ./http; do
	forbid "$p" "^$mod/poller/netpoll$|cloudwego" "netpoll (only a program that imports poller/netpoll links it)"
	if go list -deps "$p" | grep -q cloudwego; then
		echo "layers: $p links cloudwego/netpoll" >&2
		fail=1
	fi
done

if [ "$fail" = 0 ]; then
	echo "layers: ok"
fi
exit "$fail"
