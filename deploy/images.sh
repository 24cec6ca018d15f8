#!/usr/bin/env bash
# Builds the three service images from the root Dockerfile (one build per SERVICE) with the first
# OCI builder that can build on this machine, in this order: docker (buildx when it has it),
# podman, buildah, nerdctl, kaniko. Each image is tagged docflow-<service>:<git short sha> (with
# -dirty when tracked files differ from HEAD, so a sha tag always means that commit) and :latest.
#
# Where no builder can build, it says so and exits 0: nothing else in the project needs images
# (make test runs real processes), so a machine without a container engine is not an error.
# A client without its engine counts as none: docker's CLI alone cannot build.
#
#   IMAGE_BUILDER=podman bash deploy/images.sh   that builder or fail (no fallback, exit 1)
#   KANIKO_EXECUTOR=/path/to/executor            where kaniko's executor is (/kaniko/executor)
# kaniko has no local image store: its images are written as tarballs to .cache/images/.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICES=(ingest query analysis)
BUILDERS=(docker podman buildah nerdctl kaniko)
KANIKO_EXECUTOR="${KANIKO_EXECUTOR:-/kaniko/executor}"

# Whether `builder` can build here: its client is installed and answers `info` (which needs the
# engine or, for buildah, its storage).
can_build() {
  case "$1" in
    kaniko) [ -x "$KANIKO_EXECUTOR" ] ;;
    *) command -v "$1" >/dev/null 2>&1 && "$1" info >/dev/null 2>&1 ;;
  esac
}

# build BUILDER SERVICE TAG...: one image, every tag given.
build() {
  local builder=$1 service=$2
  shift 2
  local tags=() tag
  for tag in "$@"; do tags+=(--tag "$tag"); done
  local common=(--build-arg "SERVICE=$service" --file Dockerfile)
  case "$builder" in
    docker)
      if docker buildx version >/dev/null 2>&1; then
        docker buildx build --load "${common[@]}" "${tags[@]}" .
      else
        # The Dockerfile's cache mounts need BuildKit.
        DOCKER_BUILDKIT=1 docker build "${common[@]}" "${tags[@]}" .
      fi
      ;;
    podman | buildah | nerdctl) "$builder" build "${common[@]}" "${tags[@]}" . ;;
    kaniko)
      local destinations=()
      for tag in "$@"; do destinations+=(--destination "$tag"); done
      mkdir -p .cache/images
      "$KANIKO_EXECUTOR" --context "dir://$PWD" --dockerfile Dockerfile \
        --build-arg "SERVICE=$service" "${destinations[@]}" --no-push --cleanup \
        --tar-path ".cache/images/docflow-$service.tar"
      ;;
  esac
}

if [ -n "${IMAGE_BUILDER:-}" ]; then
  case " ${BUILDERS[*]} " in
    *" $IMAGE_BUILDER "*) ;;
    *)
      echo "make images: IMAGE_BUILDER=$IMAGE_BUILDER is none of: ${BUILDERS[*]}" >&2
      exit 2
      ;;
  esac
  if ! can_build "$IMAGE_BUILDER"; then
    echo "make images: IMAGE_BUILDER=$IMAGE_BUILDER cannot build here" \
      "(not installed, or its engine does not answer)" >&2
    exit 1
  fi
  builder=$IMAGE_BUILDER
else
  builder=""
  for candidate in "${BUILDERS[@]}"; do
    if can_build "$candidate"; then
      builder=$candidate
      break
    fi
  done
  if [ -z "$builder" ]; then
    clients=""
    for candidate in docker podman buildah nerdctl; do
      if command -v "$candidate" >/dev/null 2>&1; then clients+=" $candidate"; fi
    done
    echo "make images: skipped, no OCI builder can build here (tried ${BUILDERS[*]})."
    if [ -n "$clients" ]; then
      echo "make images: installed but not answering \`info\` (no engine running?):$clients"
    fi
    echo "make images: run it where one works; nothing else in the project needs the images."
    exit 0
  fi
fi

version=$(git rev-parse --short HEAD)
if ! git diff --quiet HEAD --; then version+=-dirty; fi

echo "make images: building with $builder, tag $version"
for service in "${SERVICES[@]}"; do
  echo "make images: docflow-$service"
  build "$builder" "$service" "docflow-$service:$version" "docflow-$service:latest"
done
echo "make images: built docflow-{${SERVICES[*]// /,}}:$version (and :latest) with $builder"
