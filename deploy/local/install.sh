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
# The deploy tests (tests/deploy) render deploy/k8s with the real kustomize and validate the
# custom resources against the CRDs these releases publish in their Go modules.
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# The Go module version of Prometheus (v0.3XX.Y is Prometheus 3.XX.Y): its promtool only.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}" # the Go module's tag of the Jaeger v2 binary
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

# FerretDB is built from the Go module proxy with the patches in deploy/local/ferretdb/ applied
# (see its README). The stamp next to the binary hashes the version and the patches: a changed
# patch rebuilds. `install.sh --stock` also builds an unpatched binary (bin/ferretdb-stock) for
# tests/perf/bench_scale.py's side-by-side comparison.
FERRETDB_PATCHES=("$ROOT"/deploy/local/ferretdb/*.patch)

ferretdb_stamp() {
  { printf '%s\n' "$FERRETDB_VERSION"; cat "${FERRETDB_PATCHES[@]}"; } | sha256sum | cut -d' ' -f1
}

ferretdb_works() { "$1" --version >/dev/null 2>&1; }

# The stamp of a flavour: stock depends on the version alone, patched on the patches too.
flavour_stamp() {
  if [[ "$1" == stock ]]; then echo "stock-$FERRETDB_VERSION"; else ferretdb_stamp; fi
}

# Prints the directory of the FerretDB source, patched unless $1 is "stock", prepared once per stamp.
ferretdb_source() {
  local flavour=$1 module stamp src
  stamp="$(flavour_stamp "$flavour")"
  src="$CACHE/src/ferretdb-$flavour"
  if [[ -f "$src/.docflow-stamp" && "$(cat "$src/.docflow-stamp")" == "$stamp" ]]; then
    echo "$src"
    return 0
  fi
  # `go install github.com/FerretDB/FerretDB/cmd/ferretdb@VERSION` builds a binary that panics at
  # start ("Invalid build/version/version.txt"): the module zip lacks the generated version files.
  # So: download the module, copy its source, write version.txt, then build.
  module="$(module_dir "github.com/FerretDB/FerretDB@$FERRETDB_VERSION")"
  rm -rf "$src"
  mkdir -p "$(dirname "$src")"
  cp -R "$module" "$src"
  chmod -R u+w "$src"
  printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  printf 'docflow-local\n' >"$src/build/version/package.txt"
  if [[ "$flavour" != stock ]]; then
    local patch
    for patch in "${FERRETDB_PATCHES[@]}"; do
      patch -s -p1 -d "$src" <"$patch" >&2
    done
  fi
  printf '%s\n' "$stamp" >"$src/.docflow-stamp"
  echo "$src"
}

# build_ferretdb patched|stock BINARY
build_ferretdb() {
  local flavour=$1 bin=$2 src stamp
  stamp="$(flavour_stamp "$flavour")"
  if ferretdb_works "$bin" && [[ -f "$bin.stamp" && "$(cat "$bin.stamp")" == "$stamp" ]]; then
    return 0
  fi
  log "building FerretDB $FERRETDB_VERSION ($flavour) from the Go module proxy (first time: a few minutes)"
  src="$(ferretdb_source "$flavour")"
  (cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$bin.new" ./cmd/ferretdb)
  mv -f "$bin.new" "$bin"
  printf '%s\n' "$stamp" >"$bin.stamp"
  ferretdb_works "$bin" || { log "FerretDB build does not start: $("$bin" --version 2>&1 | head -3)"; return 1; }
}

install_ferretdb() {
  build_ferretdb patched "$CACHE/bin/ferretdb"
  if [[ "${1:-}" == --stock ]]; then build_ferretdb stock "$CACHE/bin/ferretdb-stock"; fi
}

# Runs FerretDB's own Go tests of the SQLite backend (and the patch's) on the patched source.
test_ferretdb() {
  local src
  src="$(ferretdb_source patched)"
  (cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" go test -count=1 ./internal/backends/sqlite/...)
}

# promtool checks and unit-tests the alert rules (deploy/monitoring, tests/deploy/test_alerts.py).
# Built from the Go module proxy like FerretDB; the stamp holds the version it was built from.
install_promtool() {
  local bin="$CACHE/bin/promtool" gobin="$CACHE/src/promtool-bin"
  if "$bin" --version >/dev/null 2>&1 && [[ -f "$bin.stamp" && "$(cat "$bin.stamp")" == "$PROMETHEUS_VERSION" ]]; then
    return 0
  fi
  log "building promtool $PROMETHEUS_VERSION from the Go module proxy (first time: several minutes)"
  rm -rf "$gobin"
  GOBIN="$gobin" GOFLAGS="-mod=mod" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
  mv -f "$gobin/promtool" "$bin"
  printf '%s\n' "$PROMETHEUS_VERSION" >"$bin.stamp"
  "$bin" --version >/dev/null 2>&1 || { log "promtool build does not start"; return 1; }
}

# Jaeger v2 (make run's trace backend) is built as a tool of a small module of its own, from the
# Go module proxy: about 12 CPU-minutes the first time, then cached with its version as stamp.
install_jaeger() {
  local bin="$CACHE/bin/jaeger" src="$CACHE/src/jaeger-$JAEGER_VERSION"
  if [[ -x "$bin" && -f "$bin.stamp" && "$(cat "$bin.stamp")" == "$JAEGER_VERSION" ]]; then
    return 0
  fi
  log "building Jaeger $JAEGER_VERSION from the Go module proxy (first time: several minutes)"
  mkdir -p "$src"
  (
    cd "$src"
    export GOFLAGS="-mod=mod -buildvcs=false"
    [[ -f go.mod ]] || go mod init docflow.local/jaeger >/dev/null 2>&1
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    go build -trimpath -o "$bin.new" github.com/jaegertracing/jaeger/cmd/jaeger
  )
  mv -f "$bin.new" "$bin"
  printf '%s\n' "$JAEGER_VERSION" >"$bin.stamp"
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

# kustomize, built from the Go module proxy into bin/kustomize; the stamp names the version.
install_kustomize() {
  local bin="$CACHE/bin/kustomize" gobin="$CACHE/bin/kustomize.build"
  if [[ -x "$bin" && -f "$bin.stamp" && "$(cat "$bin.stamp")" == "$KUSTOMIZE_VERSION" ]]; then
    return 0
  fi
  log "building kustomize $KUSTOMIZE_VERSION from the Go module proxy (first time: a few minutes)"
  rm -rf "$gobin"
  GOBIN="$gobin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  mv -f "$gobin/kustomize" "$bin"
  rm -rf "$gobin"
  printf '%s\n' "$KUSTOMIZE_VERSION" >"$bin.stamp"
}

# Copies the CRDs the deploy tests validate against into crds/ (KEDA: ScaledObject and
# TriggerAuthentication; prometheus-operator: PodMonitor, ServiceMonitor, PrometheusRule).
install_crds() {
  local dir="$CACHE/crds" stamp="keda-$KEDA_VERSION prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
  if [[ -f "$dir/.complete" && "$(cat "$dir/.complete")" == "$stamp" ]]; then
    return 0
  fi
  log "fetching the KEDA and prometheus-operator CRDs from the Go module proxy"
  local keda operator
  keda="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
  operator="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  cp "$keda"/config/crd/bases/keda.sh_{scaledobjects,triggerauthentications}.yaml "$dir.tmp/"
  cp "$operator"/example/prometheus-operator-crd/monitoring.coreos.com_{podmonitors,servicemonitors,prometheusrules}.yaml "$dir.tmp/"
  chmod u+w "$dir.tmp"/*.yaml
  printf '%s\n' "$stamp" >"$dir.tmp/.complete"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

# Prints the directory `go mod download` unpacked MODULE@VERSION into.
module_dir() {
  GOFLAGS=-mod=mod go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

case "${1:-}" in
  --ferretdb-test)
    test_ferretdb
    exit
    ;;
  --stock | "") ;;
  *)
    echo "usage: install.sh [--stock | --ferretdb-test]" >&2
    exit 2
    ;;
esac

install_debian_packages
install_uv
install_ferretdb "${1:-}" &
ferret_pid=$!
install_kustomize &
kustomize_pid=$!
install_promtool &
promtool_pid=$!
install_jaeger &
jaeger_pid=$!
install_kafka
install_crds
wait "$ferret_pid"
wait "$kustomize_pid"
wait "$promtool_pid"
wait "$jaeger_pid"
log "done"
