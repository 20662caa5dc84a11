#!/usr/bin/env bash
# Fails when `go generate ./...` would change a committed generated file.
set -euo pipefail
go generate ./...
if ! git diff --exit-code --stat -- . ; then
  echo "generated files are stale: run 'make gen' and commit the result" >&2
  exit 1
fi
