"""The OpenAPI document declares the limits the settings in force enforce (schemathesis sends
what it declares as valid and expects it accepted)."""

from __future__ import annotations

from typing import Any

import pytest

from docflow.ingest.main import create_app
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.unit


def _document(**limits: int) -> dict[str, Any]:
    return create_app(IngestSettings(**limits)).openapi()  # type: ignore[arg-type]


def test_document_limits_come_from_the_settings() -> None:
    document = _document(max_content_chars=900, max_title_chars=7, max_batch_items=3)
    schemas = document["components"]["schemas"]
    incoming = schemas["IncomingDocument"]["properties"]

    assert incoming["content"]["maxLength"] == 900
    assert {"type": "string", "maxLength": 7} in incoming["title"]["anyOf"]
    documents = schemas["RawBatchRequest"]["properties"]["documents"]
    assert (documents["minItems"], documents["maxItems"]) == (1, 3)


def test_every_idempotency_key_parameter_states_what_is_accepted() -> None:
    paths = _document()["paths"]
    schemas = [
        parameter["schema"]
        for path in ("/v1/documents", "/v1/documents/batch", "/v1/documents/upload")
        for parameter in paths[path]["post"]["parameters"]
        if parameter["name"] == "Idempotency-Key"
    ]

    assert len(schemas) == 3
    assert all(schema["minLength"] == 1 and schema["maxLength"] == 255 for schema in schemas)
