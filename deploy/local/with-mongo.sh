#!/usr/bin/env bash
# Runs COMMAND with the configured MongoDB answering: `make api-key` works whether the system
# runs or not. When MONGODB_URI is the local default (unset, or mongodb://127.0.0.1:27017 or
# localhost) and nothing answers on that port, the local FerretDB (deploy/local/ferretdb.sh) is
# started for the duration of COMMAND and stopped after it, its output in .cache/logs/.
# Any other MONGODB_URI is used as it is.
# Usage: deploy/local/with-mongo.sh COMMAND ARGS...
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${FERRETDB_PORT:-27017}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:$PORT}"
uri="$MONGODB_URI"

port_open() { timeout 1 bash -c ": </dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }

case "$uri" in
  "mongodb://127.0.0.1:$PORT" | "mongodb://127.0.0.1:$PORT/" | "mongodb://localhost:$PORT" | "mongodb://localhost:$PORT/") local_default=1 ;;
  *) local_default=0 ;;
esac

if ((local_default == 0)) || port_open; then
  exec "$@"
fi

logs="${DOCFLOW_CACHE:-$ROOT/.cache}/logs"
mkdir -p "$logs"
printf '[with-mongo] %s does not answer: starting the local FerretDB for this command\n' "$uri" >&2
setsid bash "$HERE/ferretdb.sh" >"$logs/ferretdb-oneshot.log" 2>&1 </dev/null &
ferretdb_pid=$!
stop_ferretdb() { kill -TERM -- "-$ferretdb_pid" 2>/dev/null || true; wait "$ferretdb_pid" 2>/dev/null || true; }
trap stop_ferretdb EXIT
WAIT_FOR_TIMEOUT=30 bash "$HERE/wait-for.sh" "127.0.0.1:$PORT" >&2 || {
  printf '[with-mongo] FerretDB did not start; see %s\n' "$logs/ferretdb-oneshot.log" >&2
  exit 1
}
"$@"
