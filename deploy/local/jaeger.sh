#!/usr/bin/env bash
# Runs Jaeger v2 all-in-one in the foreground, spans kept in memory (gone when it stops):
#   OTLP receiver  127.0.0.1:4317 (gRPC), 127.0.0.1:4318 (HTTP)
#   UI and query API  http://127.0.0.1:16686 (/api/traces/<trace id>)
# Built by deploy/local/install.sh into .cache/bin/jaeger; with no config Jaeger runs exactly this.
#
# Environment (optional): DOCFLOW_CACHE   cache root (default: <repo>/.cache)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${DOCFLOW_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin/jaeger"

[[ -x "$BIN" ]] || {
  printf '[jaeger.sh] %s not found: run deploy/local/install.sh (or make install) first\n' "$BIN" >&2
  exit 1
}
exec "$BIN"
