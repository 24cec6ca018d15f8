"""ingest and query as real processes on a private slice of the shared infrastructure, with an
API key in their database, for schemathesis to fuzz.

`FUZZ_EXAMPLES` sets how many examples each operation gets: a small, derandomized number in
`make test` (the same cases every run), many more and random ones in `make fuzz`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from docflow.testing import ServiceProcess, bearer, create_api_key, free_port, new_isolation

MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017")
BOUNDED_EXAMPLES = 25
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)
EXAMPLES = FUZZ_EXAMPLES or BOUNDED_EXAMPLES
DERANDOMIZE = not FUZZ_EXAMPLES

# High enough that the fuzzer reaches the handlers instead of a 429 on every request; the 429
# answers stay declared in the documents all the same.
_GENEROUS_LIMITS = {
    "RATE_LIMIT_DEFAULT": "1000000/minute",
    "RATE_LIMIT_UPLOAD": "1000000/minute",
    "AUTH_FAILURES_PER_MINUTE": "1000000",
}


@dataclass(frozen=True)
class FuzzStack:
    ingest: ServiceProcess
    query: ServiceProcess
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.api_key)


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzStack]:
    """ingest and query sharing one database, as in a deployment."""
    isolation = new_isolation()
    env = {**isolation.env(), **_GENEROUS_LIMITS, "API_DOCS_PUBLIC": "true", "LOG_LEVEL": "INFO"}
    tmp = tmp_path_factory.mktemp("fuzz")
    ingest = ServiceProcess("ingest", env=env, port=free_port(), log_path=tmp / "ingest.log")
    query = ServiceProcess("query", env=env, port=free_port(), log_path=tmp / "query.log")
    # Started here, stopped in `finally`: `with process.start()` would start each one twice.
    try:
        ingest.start(ready_timeout_s=90)
        query.start(ready_timeout_s=90)
        key = asyncio.run(create_api_key(mongodb_uri=MONGODB_URI, database=isolation.database))
        yield FuzzStack(ingest=ingest, query=query, api_key=key)
    finally:
        query.stop()
        ingest.stop()
