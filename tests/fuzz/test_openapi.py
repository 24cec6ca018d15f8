"""Every operation of ingest's and query's OpenAPI documents, fuzzed by schemathesis.

Each generated request goes to the running service with a valid API key, and the answer goes
through all of schemathesis's checks: no 5xx; a declared status code, content type and
headers; a body that matches the declared schema; valid data accepted and invalid data refused;
a request without credentials refused. A second pass sends a key that does not exist: every
`/v1` operation must answer its declared 401.

The documents are generated in-process at collection time: schemathesis parametrizes tests
while pytest collects them, before any fixture has started a service (and its lazy
`from_fixture` loader fails on pytest 9.2, which dropped `Node._nodeid`).
`test_the_services_serve_the_fuzzed_documents` proves the running processes serve exactly them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, HookContext, Response
from schemathesis.core.failures import Failure

from docflow.ingest.main import create_app as create_ingest_app
from docflow.query.main import create_app as create_query_app
from docflow.testing import bearer
from tests.fuzz.conftest import DERANDOMIZE, EXAMPLES, FuzzStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INGEST_DOCUMENT: dict[str, Any] = create_ingest_app().openapi()
QUERY_DOCUMENT: dict[str, Any] = create_query_app().openapi()
# A request over a declared size limit is refused with 413 (`content_too_large`,
# `batch_too_large`): a refusal as good as 400 or 422, which schemathesis does not list.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        }
    }
)
ingest = schemathesis.openapi.from_dict(INGEST_DOCUMENT, config=CONFIG)
query = schemathesis.openapi.from_dict(QUERY_DOCUMENT, config=CONFIG)

# Refusals of schema-valid requests for rules JSON Schema cannot state. Any other refusal of
# valid data fails the run.
RULES_BEYOND_THE_SCHEMA = {
    # what is left after sanitization (markup and control characters removed)
    "empty_content",
    "invalid_metadata_key",
    # what an uploaded file's bytes are
    "unsupported_type",
    "type_mismatch",
    "invalid_utf8",
    "encrypted_document",
    "corrupt_document",
    "empty_document",
    # whether an opaque cursor was issued by us; created_after < created_before
    "invalid_cursor",
    "invalid_filter",
    # an Idempotency-Key that an earlier generated request used with another body
    "idempotency_key_reused",
}
REJECTED_POSITIVE_DATA = "ST202"
ACCEPTED_NEGATIVE_DATA = "ST201"

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
# The 401 pass needs no breadth: authentication runs before anything reads the request.
UNAUTHENTICATED_SETTINGS = settings(FUZZ_SETTINGS, max_examples=min(EXAMPLES, 10))
UNKNOWN_KEY = bearer("dfk_0000000000000000_not-a-key-of-this-database")


def _error_code(response: Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def filter_failure(
    context: HookContext, failure: Failure, case: Case[Any], response: Response
) -> bool:
    """Keep every failure but a valid request refused for a rule the schema cannot state, and
    a batch whose invalid items were answered one by one, as the batch endpoint promises."""
    if failure.code == REJECTED_POSITIVE_DATA:
        return _error_code(response) not in RULES_BEYOND_THE_SCHEMA
    if failure.code == ACCEPTED_NEGATIVE_DATA and case.path == "/v1/documents/batch":
        return not _items_refused(response)
    # Unknown query parameters are ignored, as HTTP APIs do; OpenAPI cannot forbid them.
    return not (failure.code == ACCEPTED_NEGATIVE_DATA and _undeclared_query_names(case))


def _undeclared_query_names(case: Case[Any]) -> bool:
    declared = {parameter.name for parameter in case.operation.query}
    return any(name not in declared for name in case.query or {})


def _items_refused(response: Response) -> bool:
    """A 202 batch answer in which at least one item has its own error."""
    if response.status_code != 202:
        return False
    return bool(response.json()["data"]["rejected"])


ingest.hook(filter_failure)
query.hook(filter_failure)


def test_the_services_serve_the_fuzzed_documents(fuzz_stack: FuzzStack) -> None:
    for process, document in (
        (fuzz_stack.ingest, INGEST_DOCUMENT),
        (fuzz_stack.query, QUERY_DOCUMENT),
    ):
        served = httpx.get(f"{process.url}/openapi.json", timeout=10).json()
        assert served == document, process.service


@ingest.parametrize()
@FUZZ_SETTINGS
def test_ingest(case: Case[Any], fuzz_stack: FuzzStack) -> None:
    case.call_and_validate(base_url=fuzz_stack.ingest.url, headers=fuzz_stack.headers)


@query.parametrize()
@FUZZ_SETTINGS
def test_query(case: Case[Any], fuzz_stack: FuzzStack) -> None:
    case.call_and_validate(base_url=fuzz_stack.query.url, headers=fuzz_stack.headers)


def _refused_without_a_key(case: Case[Any], base_url: str) -> None:
    response = case.call(base_url=base_url, headers=UNKNOWN_KEY)
    if case.path.startswith("/v1/"):
        assert response.status_code == 401, response.text
    case.validate_response(response, headers=UNKNOWN_KEY)


@ingest.parametrize()
@UNAUTHENTICATED_SETTINGS
def test_ingest_unknown_key(case: Case[Any], fuzz_stack: FuzzStack) -> None:
    _refused_without_a_key(case, fuzz_stack.ingest.url)


@query.parametrize()
@UNAUTHENTICATED_SETTINGS
def test_query_unknown_key(case: Case[Any], fuzz_stack: FuzzStack) -> None:
    _refused_without_a_key(case, fuzz_stack.query.url)
