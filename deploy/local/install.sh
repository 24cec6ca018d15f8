#!/usr/bin/env bash
# Installs everything docflow needs on a fresh Debian machine, idempotently.
# Downloads and builds are cached under .cache/ (git-ignored); a second run takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${DOCFLOW_CACHE:-$ROOT/.cache}"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${LOG4J_VERSION:-2.26.0}"
SLF4J_VERSION="${SLF4J_VERSION:-2.0.17}"
FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
mkdir -p "$CACHE/bin"

log() { printf '[install] %s\n' "$*"; }

install_debian_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v wrk >/dev/null || missing+=(wrk)
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts the packaged redis as a system service; docflow runs its own.
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
  fi
}

install_uv() {
  if ! command -v uv >/dev/null; then
    log "pip install uv"
    python3 -m pip install -q --disable-pip-version-check uv
    # pyenv only shows new console scripts after a rehash (`python3 -m uv` works regardless).
    if command -v pyenv >/dev/null; then pyenv rehash || true; fi
  fi
}

ferretdb_works() { "$CACHE/bin/ferretdb" --version >/dev/null 2>&1; }

install_ferretdb() {
  ferretdb_works && return 0
  # `go install github.com/FerretDB/FerretDB/cmd/ferretdb@VERSION` builds a binary that panics at
  # start ("Invalid build/version/version.txt"): the module zip lacks the generated version files.
  # So: download the module, copy its source, write version.txt, then build.
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (first time: a few minutes)"
  local src build
  src="$(GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  build="$CACHE/build/ferretdb-$FERRETDB_VERSION"
  rm -rf "$build"
  mkdir -p "$(dirname "$build")"
  cp -R "$src" "$build"
  chmod -R u+w "$build"
  printf '%s\n' "$FERRETDB_VERSION" >"$build/build/version/version.txt"
  printf 'docflow-local\n' >"$build/build/version/package.txt"
  (cd "$build" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$CACHE/bin/ferretdb.new" ./cmd/ferretdb)
  mv -f "$CACHE/bin/ferretdb.new" "$CACHE/bin/ferretdb"
  rm -rf "$build"; rmdir "$CACHE/build" 2>/dev/null || true
  ferretdb_works || { log "FerretDB build does not start: $("$CACHE/bin/ferretdb" --version 2>&1 | head -3)"; return 1; }
}

install_kafka() {
  local dir="$CACHE/kafka-$KAFKA_VERSION"
  local libs="$dir/libs"
  local pom_text stamp
  pom_text="$(sed -e "s/@KAFKA_VERSION@/$KAFKA_VERSION/" -e "s/@LOG4J_VERSION@/$LOG4J_VERSION/" \
    -e "s/@SLF4J_VERSION@/$SLF4J_VERSION/" "$ROOT/deploy/local/kafka-pom.xml")"
  stamp="$(printf '%s' "$pom_text" | sha256sum | cut -d' ' -f1)"
  # The marker holds the hash of the pom the jars came from: a changed pom re-fetches.
  if [[ -f "$libs/.complete" && "$(cat "$libs/.complete")" == "$stamp" ]]; then
    return 0
  fi
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central"
  mkdir -p "$dir"
  printf '%s\n' "$pom_text" >"$dir/pom.xml"
  rm -rf "$libs.tmp"
  mvn -B -q -f "$dir/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs.tmp" -DincludeScope=runtime
  printf '%s\n' "$stamp" >"$libs.tmp/.complete"
  rm -rf "$libs" "$dir"/*.jsa # class-data sharing archives of the old jars (deploy/local/kafka.sh)
  mv "$libs.tmp" "$libs"
}

install_debian_packages
install_uv
install_ferretdb &
ferret_pid=$!
install_kafka
wait "$ferret_pid"
log "done"
