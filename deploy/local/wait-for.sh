#!/usr/bin/env bash
# Waits until every HOST:PORT accepts TCP connections, then exits 0.
# Usage: deploy/local/wait-for.sh [-t SECONDS] [HOST:PORT...] [-- COMMAND ARGS...]
#   -t SECONDS   give up after this long (default: $WAIT_FOR_TIMEOUT or 180), exit 1
#   -- COMMAND   exec COMMAND once all ports answer
# Used by deploy/local/Procfile so the services start after Kafka, FerretDB and Redis.
set -euo pipefail

timeout_s="${WAIT_FOR_TIMEOUT:-180}"
targets=()
while (($#)); do
  case "$1" in
    -t) timeout_s="$2"; shift 2 ;;
    --) shift; break ;;
    *:*) targets+=("$1"); shift ;;
    *) echo "wait-for.sh: expected HOST:PORT, got '$1'" >&2; exit 2 ;;
  esac
done
# No HOST:PORT (`make services` empties the Procfile's list): nothing to wait for.

deadline=$((SECONDS + timeout_s))
for target in "${targets[@]}"; do
  host="${target%:*}"
  port="${target##*:}"
  announced=0
  until timeout 1 bash -c ": </dev/tcp/$host/$port" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "wait-for.sh: $host:$port not reachable after ${timeout_s}s" >&2
      exit 1
    fi
    if ((announced == 0)); then
      echo "wait-for.sh: waiting for $host:$port" >&2
      announced=1
    fi
    sleep 0.5
  done
done

if (($#)); then exec "$@"; fi
