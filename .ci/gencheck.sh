#!/usr/bin/env bash
# Fails when `go generate ./...` would change a generated file (one whose
# first line says "Code generated ... DO NOT EDIT."), or would write a new
# one. Other uncommitted edits in the tree are not its business.
set -euo pipefail
generated() {
  git ls-files -co --exclude-standard -- '*.go' | grep -v '^bench/' | while read -r f; do
    if [ -f "$f" ] && head -1 "$f" | grep -q '^// Code generated .* DO NOT EDIT\.$'; then echo "$f"; fi
  done | sort
}
before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
generated | xargs -r sha256sum >"$before"
go generate ./...
generated | xargs -r sha256sum >"$after"
if ! diff -u "$before" "$after"; then
  echo "generated files are stale: run 'make gen' and commit the result" >&2
  exit 1
fi
echo "generated files are fresh ($(wc -l <"$after") files)"
