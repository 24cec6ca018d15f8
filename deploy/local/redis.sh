#!/usr/bin/env bash
# Runs redis-server in the foreground on 127.0.0.1:6379, without persistence (a cache only).
#
# Environment (all optional):
#   DOCFLOW_CACHE     cache root (default: <repo>/.cache); working dir .cache/data/redis
#   REDIS_PORT        listen port (default 6379)
#   REDIS_MAXMEMORY   memory cap (default 256mb, evicting least-recently-used keys)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${DOCFLOW_CACHE:-$ROOT/.cache}"
DATA="$CACHE/data/redis"

command -v redis-server >/dev/null || {
  printf '[redis.sh] redis-server not found: run deploy/local/install.sh (or make install) first\n' >&2
  exit 1
}
mkdir -p "$DATA"

# Config on stdin ("-"): no file to keep in sync, nothing written outside $DATA.
exec redis-server - <<CONF
bind 127.0.0.1
port ${REDIS_PORT:-6379}
protected-mode yes
daemonize no
dir $DATA
save ""
appendonly no
maxmemory ${REDIS_MAXMEMORY:-256mb}
maxmemory-policy allkeys-lru
loglevel warning
logfile ""
databases 16
CONF
