# syntax=docker/dockerfile:1
# The image of one docflow service, chosen by the build argument SERVICE (ingest, query or
# analysis). The build context is the repository root (the uv workspace):
#   docker build --build-arg SERVICE=ingest -t docflow-ingest .
# Everything is shared but the last few lines: each service's stage sets its port and command
# (and analysis copies the tiktoken encoding it counts tokens with).

# Declared before the first FROM so that the final FROM can name the service's stage.
ARG SERVICE

# uv is copied from its own image, pinned to the version that wrote uv.lock.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11-slim AS builder
ARG SERVICE
COPY --from=uv /uv /uvx /bin/
# Compile bytecode now: the runtime root filesystem is read-only, so Python could not cache it.
# Copy rather than hard-link from the cache mount, which is not part of the image.
# Use the image's CPython: the runtime stage has the same one at the same path, so the venv's
# interpreter symlink and the console-script shebangs stay valid after the copy.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# 1. Third-party dependencies only, from the lockfile: this layer survives code changes.
#    uv needs every workspace member's pyproject.toml to read the workspace.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY libs/testing/pyproject.toml libs/testing/
COPY services/ingest/pyproject.toml services/ingest/
COPY services/query/pyproject.toml services/query/
COPY services/analysis/pyproject.toml services/analysis/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "docflow-${SERVICE}" --no-install-workspace

# 2. Our code: docflow-common and this service, installed as wheels (not editable), so the
#    runtime image needs nothing from /src.
COPY libs/common/src libs/common/src
COPY services/${SERVICE}/src services/${SERVICE}/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "docflow-${SERVICE}"

FROM python:3.11-slim AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="docflow-${SERVICE}" \
      org.opencontainers.image.description="docflow ${SERVICE} service"
# A fixed uid/gid: Kubernetes checks runAsNonRoot against it (runAsUser: 10001 in deploy/k8s).
RUN groupadd --system --gid 10001 docflow \
    && useradd --system --no-log-init --uid 10001 --gid docflow \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin docflow
# The venv stays owned by root: the service can read it but never rewrite its own code.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0
WORKDIR /app
# For docker and compose; Kubernetes ignores it and uses the probes in deploy/k8s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['HTTP_PORT'] + '/health', timeout=3)"]
USER 10001:10001

# What differs between the services: the API port, then the operations port (/health/ready,
# /health/detailed, /metrics; CONTRACT.md), and the console script.
FROM runtime AS ingest
ENV HTTP_PORT=8001 \
    OPS_PORT=9101
EXPOSE 8001 9101
CMD ["docflow-ingest"]

FROM runtime AS query
ENV HTTP_PORT=8002 \
    OPS_PORT=9102
EXPOSE 8002 9102
CMD ["docflow-query"]

# analysis counts prompt tokens with tiktoken's o200k_base (providers/tokens.py), whose BPE file
# tiktoken downloads on first use, which fails offline and on a read-only root filesystem. Fetch
# it at build time into a cache directory (tiktoken names the file by the SHA-1 of its URL and
# checks its SHA-256), for the analysis stage to copy. Only a build of analysis runs this stage.
FROM builder AS tiktoken
RUN TIKTOKEN_CACHE_DIR=/tiktoken \
    /app/.venv/bin/python -c "import tiktoken; tiktoken.get_encoding('o200k_base')"

FROM runtime AS analysis
# Owned by root like the venv: the service reads the encoding and never rewrites it.
COPY --from=tiktoken /tiktoken /app/tiktoken
# DL3064 reads "TOKEN" in the name as a secret; TIKTOKEN_CACHE_DIR is the directory above.
# hadolint ignore=DL3064
ENV HTTP_PORT=8003 \
    OPS_PORT=9103 \
    TIKTOKEN_CACHE_DIR=/app/tiktoken
EXPOSE 8003 9103
CMD ["docflow-analysis"]

# The image: the stage of the service named by SERVICE (empty: the build stops here).
FROM ${SERVICE}
