#!/usr/bin/env bash
# Runs FerretDB (MongoDB wire protocol) in the foreground with its SQLite handler.
#   listen: 127.0.0.1:27017, data: .cache/data/ferretdb/
# The binary comes from deploy/local/install.sh (.cache/bin/ferretdb).
#
# Environment (all optional):
#   DOCFLOW_CACHE           cache root (default: <repo>/.cache)
#   FERRETDB_BIN            the binary (default: the patched build, <cache>/bin/ferretdb)
#   FERRETDB_DATA           data directory (default: <cache>/data/ferretdb)
#   FERRETDB_PORT           listen port (default 27017)
#   FERRETDB_LOG_LEVEL      DEBUG, INFO, WARN, ERROR (default: at WARN FerretDB dumps every failed
#                           command and every unsupported `endSessions` as a multi-line message)
#   FERRETDB_DEBUG_ADDR     metrics/pprof HTTP listener (default "-": off)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${DOCFLOW_CACHE:-$ROOT/.cache}"
BIN="${FERRETDB_BIN:-$CACHE/bin/ferretdb}"
DATA="${FERRETDB_DATA:-$CACHE/data/ferretdb}"

if [[ ! -x "$BIN" ]]; then
  printf '[ferretdb.sh] %s missing: run deploy/local/install.sh (or make install) first\n' "$BIN" >&2
  exit 1
fi
mkdir -p "$DATA/sqlite" "$DATA/state"

# --test-enable-nested-pushdown: dotted keys (analysis.language) reach the SQLite backend, whose
# patched pushdown decides from its index key types what it can answer (deploy/local/ferretdb/).
exec "$BIN" \
  --handler=sqlite \
  --sqlite-url="file:$DATA/sqlite/" \
  --state-dir="$DATA/state" \
  --listen-addr="127.0.0.1:${FERRETDB_PORT:-27017}" \
  --debug-addr="${FERRETDB_DEBUG_ADDR:--}" \
  --telemetry=disable \
  --test-enable-nested-pushdown \
  --log-level="${FERRETDB_LOG_LEVEL:-ERROR}" \
  --log-format=console
