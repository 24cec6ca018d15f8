#!/usr/bin/env bash
# Starts, checks and stops docflow's local infrastructure as background processes:
#   kafka     127.0.0.1:9092 (controller 9093)   deploy/local/kafka.sh
#   ferretdb  127.0.0.1:27017 (MongoDB wire)     deploy/local/ferretdb.sh
#   redis     127.0.0.1:6379                     deploy/local/redis.sh
#   jaeger    127.0.0.1:16686 (UI, query API), OTLP 4317/4318   deploy/local/jaeger.sh
#             optional: only once install.sh has built it (.cache/bin/jaeger); the tests that
#             read traces back skip without it. Its state never decides `status`'s exit code.
#
# Usage: deploy/local/infra.sh up|down|status|restart
#   up      start whatever is not already answering (a port that answers is reused as is, even if
#           something else started it), wait until each one really serves requests (Redis PING,
#           MongoDB ping, Kafka metadata), then create the contract topics if missing.
#           Idempotent: with everything running it only re-checks (a second or two).
#   down    stop what `up` started (pidfiles in .cache/run/: SIGTERM to the process group, up to
#           30 s, then SIGKILL) and nothing else.
#   status  show each component and the topics; exit 0 only when all three are ready.
#   restart down, then up.
#
# Logs: .cache/logs/<name>.log (the previous run's in <name>.log.1).
# Environment (all optional):
#   INFRA_TIMEOUT            seconds to wait for readiness (default 120)
#   KAFKA_TOPIC_PARTITIONS   partitions of the contract topics (default 6)
#   DOCFLOW_CACHE            cache root (default: <repo>/.cache)
#   KAFKA_PORT, FERRETDB_PORT, REDIS_PORT   ports (defaults 9092, 27017, 6379; see the scripts)
#   PYTHON                   interpreter with aiokafka and pymongo (default: .venv/bin/python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local"
CACHE="${DOCFLOW_CACHE:-$ROOT/.cache}"
export DOCFLOW_CACHE="$CACHE"
RUN="$CACHE/run"
LOGS="$CACHE/logs"
TIMEOUT="${INFRA_TIMEOUT:-120}"
PARTITIONS="${KAFKA_TOPIC_PARTITIONS:-6}"
TOPICS=(documents.incoming documents.ingested documents.analyzed documents.dlq)

COMPONENTS=(kafka ferretdb redis)
declare -A PORT=([kafka]="${KAFKA_PORT:-9092}" [ferretdb]="${FERRETDB_PORT:-27017}" [redis]="${REDIS_PORT:-6379}" [jaeger]=16686)
# A string the process's command line must contain, so a recycled pid is never signalled.
declare -A CMD_MARK=([kafka]="kafka.Kafka" [ferretdb]="ferretdb" [redis]="redis-server" [jaeger]="bin/jaeger")

jaeger_built() { [[ -x "$CACHE/bin/jaeger" ]]; }

log() { printf '[infra] %s\n' "$*"; }
err() { printf '[infra] ERROR: %s\n' "$*" >&2; }

python_cmd() {
  if [[ -n "${PYTHON:-}" ]]; then
    "$PYTHON" "$@"
  elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    "$ROOT/.venv/bin/python" "$@"
  else
    (cd "$ROOT" && uv run --frozen python "$@")
  fi
}

port_open() { timeout 1 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Prints the pid from the component's pidfile if that process is alive and is what we started.
our_pid() {
  local name=$1 pidfile="$RUN/$1.pid" pid cmdline
  [[ -s "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # (Read first, then match: `tr | grep -q` fails under pipefail when grep exits early.)
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  # The daemon itself, or its script before `exec` (kafka.sh formats the storage first).
  if [[ "$cmdline" == *"${CMD_MARK[$name]}"* || "$cmdline" == *"deploy/local/$name.sh"* ]]; then
    echo "$pid"
    return 0
  fi
  return 1
}

show_log_tail() {
  local name=$1
  if [[ -f "$LOGS/$name.log" ]]; then
    printf -- '----- last lines of %s -----\n' "$LOGS/$name.log" >&2
    tail -n "${2:-40}" "$LOGS/$name.log" >&2
    printf -- '-----\n' >&2
  fi
}

start_component() {
  local name=$1
  mkdir -p "$RUN" "$LOGS"
  [[ -f "$LOGS/$name.log" ]] && mv -f "$LOGS/$name.log" "$LOGS/$name.log.1"
  printf '=== %s started by infra.sh at %s\n' "$name" "$(date -Is)" >"$LOGS/$name.log"
  # setsid: own session and process group (survives the caller's Ctrl-C; `down` signals the group).
  # The child writes its own pid, which stays the same through the scripts' `exec`.
  # 9>&-: the daemon must not inherit the lock's descriptor (it would hold the lock forever).
  # shellcheck disable=SC2016  # $$ and $1 belong to the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$RUN/$name.pid" \
    bash "$HERE/$name.sh" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  local _
  for _ in $(seq 50); do [[ -s "$RUN/$name.pid" ]] && break; sleep 0.02; done
  log "$name: started (pid $(cat "$RUN/$name.pid" 2>/dev/null || echo '?'), log $LOGS/$name.log)"
}

# Waits until the component's port accepts connections; fails fast if our process died.
wait_port() {
  local name=$1 deadline=$2
  until port_open "${PORT[$name]}"; do
    if [[ -f "$RUN/$name.pid" ]] && ! our_pid "$name" >/dev/null; then
      err "$name exited during startup"
      show_log_tail "$name"
      rm -f "$RUN/$name.pid"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      err "$name: port ${PORT[$name]} not open after ${TIMEOUT}s"
      show_log_tail "$name"
      return 1
    fi
    sleep 0.2
  done
}

redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "${PORT[redis]}" ping 2>/dev/null)" == "PONG" ]]; }

# Protocol-level checks of FerretDB and Kafka, then the contract topics; in one Python process.
# Exit codes: 0 ready, 2 FerretDB not ready, 3 Kafka not ready, 4 topics failed.
check_and_create_topics() {
  local seconds=$1 create=$2
  python_cmd - "${PORT[ferretdb]}" "${PORT[kafka]}" "$seconds" "$create" "$PARTITIONS" "${TOPICS[@]}" <<'PY'
import asyncio
import sys
import time

mongo_port, kafka_port, seconds, create, partitions = sys.argv[1:6]
topics = sys.argv[6:]
deadline = time.monotonic() + float(seconds)
partitions = int(partitions)


def mongo_ready() -> bool:
    import pymongo

    last = None
    while time.monotonic() < deadline:
        try:
            client = pymongo.MongoClient(
                f"mongodb://127.0.0.1:{mongo_port}", serverSelectionTimeoutMS=2000,
                connectTimeoutMS=2000,
            )
            try:
                client.admin.command("ping")
                client["docflow_infra_check"].list_collection_names()
                return True
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001
            last = exc
            time.sleep(0.3)
    print(f"[infra] ERROR: FerretDB not answering a ping on :{mongo_port}: {last}", file=sys.stderr)
    return False


async def kafka_ready() -> int:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    last = None
    admin = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{kafka_port}", request_timeout_ms=5000,
        )
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            if cluster.get("brokers") and cluster.get("controller_id", -1) >= 0:
                break
            last = f"no broker/controller yet: {cluster}"
        except Exception as exc:  # noqa: BLE001
            last = exc
        await admin.close()
        admin = None
        await asyncio.sleep(0.5)
    if admin is None:
        print(f"[infra] ERROR: Kafka metadata request failed on :{kafka_port}: {last}",
              file=sys.stderr)
        return 3
    try:
        if create != "1":
            described = {d["topic"]: d for d in await admin.describe_topics(topics)}
            for t in topics:
                d = described.get(t)
                n = len(d["partitions"]) if d and d.get("error_code", 0) == 0 else 0
                print(f"  topic {t}: {n or 'MISSING'}{' partitions' if n else ''}")
            return 0
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing],
                timeout_ms=30000,
            )
            print(f"[infra] kafka: created {', '.join(missing)} ({partitions} partitions)")
        while True:
            described = {d["topic"]: d for d in await admin.describe_topics(topics)}
            problems = []
            grow = {}
            for t in topics:
                d = described.get(t)
                if d is None or d.get("error_code", 0) != 0:
                    problems.append(f"{t}: {d and d.get('error_code')}")
                    continue
                parts = d["partitions"]
                if len(parts) < partitions:
                    grow[t] = NewPartitions(total_count=partitions)
                if any(p.get("leader", -1) < 0 for p in parts):
                    problems.append(f"{t}: a partition has no leader yet")
            if grow:
                await admin.create_partitions(grow, timeout_ms=30000)
                print(f"[infra] kafka: raised {', '.join(grow)} to {partitions} partitions")
                continue
            if not problems:
                return 0
            if time.monotonic() >= deadline:
                print(f"[infra] ERROR: topics not ready: {problems}", file=sys.stderr)
                return 4
            await asyncio.sleep(0.3)
    except Exception as exc:  # noqa: BLE001
        print(f"[infra] ERROR: creating topics failed: {exc!r}", file=sys.stderr)
        return 4
    finally:
        await admin.close()


if not mongo_ready():
    sys.exit(2)
sys.exit(asyncio.run(kafka_ready()))
PY
}

cmd_up() {
  local t0=$SECONDS deadline name started=()
  deadline=$((SECONDS + TIMEOUT))
  mkdir -p "$RUN" "$LOGS"
  # One `up`/`down` at a time (two test runs starting together would start two brokers).
  exec 9>"$RUN/infra.lock"
  flock -w "$TIMEOUT" 9 || { err "another infra.sh holds $RUN/infra.lock"; return 1; }

  local wanted=("${COMPONENTS[@]}")
  if jaeger_built; then
    wanted+=(jaeger)
  else
    log "jaeger: not built (deploy/local/install.sh builds it); not started, trace tests skip"
  fi
  for name in "${wanted[@]}"; do
    if port_open "${PORT[$name]}"; then
      if our_pid "$name" >/dev/null; then
        log "$name: already running (pid $(our_pid "$name")), port ${PORT[$name]}"
      else
        log "$name: port ${PORT[$name]} already answers; reusing it (not started by infra.sh)"
      fi
    elif our_pid "$name" >/dev/null; then
      log "$name: starting up (pid $(our_pid "$name"))"
    else
      rm -f "$RUN/$name.pid"
      start_component "$name"
      started+=("$name")
    fi
  done

  # The protocol checks (a Python process: its imports take a while) run while the ports open;
  # meanwhile this shell notices a daemon that dies during startup.
  check_and_create_topics "$TIMEOUT" 1 &
  local check_pid=$!
  stop_check() { pkill -TERM -P "$check_pid" 2>/dev/null || true; kill "$check_pid" 2>/dev/null || true; }
  for name in redis ferretdb kafka; do
    wait_port "$name" "$deadline" || { stop_check; return 1; }
  done
  if jaeger_built; then
    wait_port jaeger "$deadline" || { stop_check; return 1; }
  fi
  until redis_ready; do
    if ((SECONDS >= deadline)); then
      err "redis: no PONG on :${PORT[redis]}"
      show_log_tail redis
      stop_check
      return 1
    fi
    sleep 0.2
  done

  local rc=0
  wait "$check_pid" || rc=$?
  case $rc in
    0) ;;
    2) show_log_tail ferretdb; return 1 ;;
    *) show_log_tail kafka; return 1 ;;
  esac
  log "ready in $((SECONDS - t0))s: kafka 127.0.0.1:${PORT[kafka]} (topics: ${TOPICS[*]}), \
mongodb://127.0.0.1:${PORT[ferretdb]}, redis://127.0.0.1:${PORT[redis]}\
$(jaeger_built && echo ", jaeger http://127.0.0.1:${PORT[jaeger]} (OTLP 4317/4318)")"
}

stop_component() {
  local name=$1 pid _
  if ! pid="$(our_pid "$name")"; then
    if [[ -f "$RUN/$name.pid" ]]; then
      log "$name: not running (stale pidfile removed)"
      rm -f "$RUN/$name.pid"
    elif port_open "${PORT[$name]}"; then
      log "$name: port ${PORT[$name]} answers but infra.sh did not start it; leaving it alone"
    else
      log "$name: not running"
    fi
    return 0
  fi
  log "$name: stopping (pid $pid)"
  # The pid leads its own process group (setsid); signal the group so no helper outlives it.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do # up to 30 s (Kafka's controlled shutdown takes a few)
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after 30s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$RUN/$name.pid"
  log "$name: stopped"
}

cmd_down() {
  mkdir -p "$RUN"
  exec 9>"$RUN/infra.lock"
  flock -w 60 9 || { err "another infra.sh holds $RUN/infra.lock"; return 1; }
  local name
  # Stop in parallel: Kafka takes the longest.
  local pids=()
  for name in "${COMPONENTS[@]}" jaeger; do
    stop_component "$name" &
    pids+=($!)
  done
  local rc=0 p
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

cmd_status() {
  local name pid ok=0 state owner
  for name in "${COMPONENTS[@]}"; do
    if pid="$(our_pid "$name")"; then owner="pid $pid (infra.sh)"; else owner="not started by infra.sh"; fi
    if port_open "${PORT[$name]}"; then state="port ${PORT[$name]} open"; else
      state="port ${PORT[$name]} closed"
      ok=1
    fi
    printf '%-9s %-22s %s\n' "$name" "$state" "$owner"
  done
  # Optional: shown, never counted.
  if pid="$(our_pid jaeger)"; then owner="pid $pid (infra.sh)"; else owner="not started by infra.sh"; fi
  if port_open "${PORT[jaeger]}"; then state="port ${PORT[jaeger]} open"; else state="port ${PORT[jaeger]} closed"; fi
  jaeger_built || owner="not built (optional)"
  printf '%-9s %-22s %s\n' jaeger "$state" "$owner"
  if ((ok == 0)); then
    local rc=0
    redis_ready || { echo "redis: no PONG"; rc=1; }
    check_and_create_topics 5 0 || rc=1
    if ((rc == 0)); then echo "ready"; else echo "NOT ready"; fi
    return $rc
  fi
  echo "NOT ready"
  return 1
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_down && cmd_up ;;
  *)
    echo "usage: $0 up|down|status|restart" >&2
    exit 2
    ;;
esac
