"""A realistic read mix against a running query service (`make run`, or any deployment).

    uv run locust -f tests/perf/locustfile.py --headless -u 50 -r 10 -t 60s \
        --host http://127.0.0.1:8002

Mix: 70 % one document by id, 20 % a filtered list page (sometimes the next page), 10 % stats.
Before the users start, the test pages through `GET /v1/documents` to learn which ids exist
(`DOCFLOW_LOCUST_MAX_IDS`, default 5,000); with none found it stops and says so. Reads by id
revalidate with If-None-Match half of the time, as a browser or a polite client would.

Every request carries `Authorization: Bearer <key>`: the key in `DOCFLOW_API_KEY`, else the
development key that `make run` writes to `.cache/dev-api-key`; with neither the test stops
before it starts and says so. The key's tenant decides which documents the test sees.
A stack on its defaults allows each API key 1,200 requests a minute (`RATE_LIMIT_DEFAULT`),
and all the users share one key: raise the limit on the stack under test, or read the 429s as
the limiter at work.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any, NoReturn

import requests
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.exception import StopTest

MAX_IDS = int(os.environ.get("DOCFLOW_LOCUST_MAX_IDS", "5000"))
PAGE = 100

STATUSES = ["queued", "analyzed", "failed"]
SENTIMENTS = ["positive", "neutral", "negative", "mixed"]
LANGUAGES = ["en", "de", "fr", "es"]

API_KEY_ENV = "DOCFLOW_API_KEY"

logger = logging.getLogger("locustfile")


def dev_key_path() -> Path:
    """Where `make run` keeps its key: docflow.common.identity.devkey.default_path's rule.
    Not imported: that module pulls in FastAPI, seconds of startup on a busy machine that
    Locust's run-time clock already counts (a short `-t` then ends before the first user)."""
    return Path(os.environ.get("DOCFLOW_CACHE", ".cache")) / "dev-api-key"


known_ids: list[str] = []
auth_headers: dict[str, str] = {}


def api_key() -> str | None:
    """`DOCFLOW_API_KEY`, else the key `make run` keeps for development, else None."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key and dev_key_path().exists():
        key = dev_key_path().read_text().strip()
    return key or None


def _stop(environment: Environment, reason: str) -> NoReturn:
    """End the run before any user starts, saying why, with exit code 1."""
    logger.error(reason)
    environment.process_exit_code = 1
    if environment.runner is not None:
        environment.runner.quit()
    raise StopTest(reason)


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def discover_ids(environment: Environment, **_kwargs: Any) -> None:
    """Page through the newest documents once, before any user starts."""
    host = (environment.host or "http://127.0.0.1:8002").rstrip("/")
    key = api_key()
    if key is None:
        _stop(
            environment,
            f"no API key: set {API_KEY_ENV} (the last line of `make api-key TENANT=<name>`), "
            f"or start the stack with `make run`, which writes {dev_key_path()}",
        )
    auth_headers["Authorization"] = f"Bearer {key}"
    cursor: str | None = None
    with requests.Session() as session:
        session.headers.update(auth_headers)
        while len(known_ids) < MAX_IDS:
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            response = session.get(f"{host}/v1/documents", params=params, timeout=30)
            if response.status_code == 401:
                _stop(environment, f"{host} refused the API key (401): is it for this stack?")
            response.raise_for_status()
            data = response.json()["data"]
            known_ids.extend(item["id"] for item in data["items"])
            cursor = data["next_cursor"]
            if not cursor:
                break
    if not known_ids:
        _stop(environment, "no documents to read: ingest some first (see the README)")
    print(f"locust: read mix over {len(known_ids)} known document ids")


class Reader(HttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.client.headers.update(auth_headers)
        self.etags: dict[str, str] = {}

    @task(70)
    def document_by_id(self) -> None:
        document_id = random.choice(known_ids)
        headers = {}
        if document_id in self.etags and random.random() < 0.5:
            headers["If-None-Match"] = self.etags[document_id]
        with self.client.get(
            f"/v1/documents/{document_id}",
            headers=headers,
            name="/v1/documents/{id}",
            catch_response=True,
        ) as response:
            if response.status_code in (200, 304):
                if "etag" in response.headers:
                    self.etags[document_id] = response.headers["etag"]
                response.success()
            else:
                response.failure(f"status {response.status_code}")

    @task(20)
    def filtered_list(self) -> None:
        params: dict[str, Any] = {"limit": random.choice([10, 20, 50])}
        choice = random.random()
        if choice < 0.4:
            params["status"] = random.choice(STATUSES)
        elif choice < 0.7:
            params["sentiment"] = random.choice(SENTIMENTS)
        elif choice < 0.9:
            params["language"] = random.choice(LANGUAGES)
        response = self.client.get("/v1/documents", params=params, name="/v1/documents?filters")
        if response.status_code == 200 and random.random() < 0.3:
            cursor = response.json()["data"]["next_cursor"]
            if cursor:
                self.client.get(
                    "/v1/documents",
                    params={**params, "cursor": cursor},
                    name="/v1/documents?filters&cursor",
                )

    @task(10)
    def stats(self) -> None:
        self.client.get("/v1/stats", name="/v1/stats")
