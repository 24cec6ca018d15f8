"""OpenAPI additions: models that endpoints reference by `$ref` without taking them as a
parameter (the hot JSON endpoint parses its body itself, see documents/router.py), and the
limits the service enforces, written into the document from the settings in force."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from docflow.ingest.settings import IngestSettings

_REF_TEMPLATE = "#/components/schemas/{model}"
_INT64 = 2**63
# What documents/idempotency.py accepts: 1-255 visible ASCII characters.
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[\\x21-\\x7e]+$",
}
# MongoDB and FerretDB refuse field names with a '.' or a leading '$' (validation.py).
_METADATA_KEY_PATTERN = "^[^$.][^.]*$"


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _extend_openapi(app: FastAPI, change: Callable[[dict[str, Any]], None]) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        change(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def register_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Add `models` (and the models they use) to the generated document's components."""

    def add(document: dict[str, Any]) -> None:
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas.setdefault(model.__name__, schema)

    _extend_openapi(app, add)


def declare_limits(app: FastAPI, settings: IngestSettings) -> None:
    """The size limits of documents/validation.py and the batch, as JSON Schema keywords, so
    that a client (or a fuzzer) reading the document knows what is accepted."""

    def declare(document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        _limit_incoming(schemas["IncomingDocument"]["properties"], settings)
        documents = schemas["RawBatchRequest"]["properties"]["documents"]
        documents.update(minItems=1, maxItems=settings.max_batch_items)
        documents["description"] = (
            f"Up to {settings.max_batch_items} IncomingDocument objects; "
            "an invalid item gets its own error."
        )
        for item in document["paths"].values():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "Idempotency-Key":
                        parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)

    _extend_openapi(app, declare)


def _limit_incoming(properties: dict[str, Any], settings: IngestSettings) -> None:
    properties["content"]["maxLength"] = settings.max_content_chars
    properties["content"]["minLength"] = 1
    for field, limit in (
        ("title", settings.max_title_chars),
        ("source", settings.max_field_chars),
        ("external_id", settings.max_field_chars),
    ):
        _string_branch(properties[field])["maxLength"] = limit
    metadata = next(
        branch for branch in properties["metadata"]["anyOf"] if branch.get("type") == "object"
    )
    metadata["maxProperties"] = settings.max_metadata_keys
    metadata["propertyNames"] = {
        "minLength": 1,
        "maxLength": settings.max_metadata_key_chars,
        "pattern": _METADATA_KEY_PATTERN,
    }
    for branch in metadata["additionalProperties"]["anyOf"]:
        if branch["type"] == "string":
            branch["maxLength"] = settings.max_metadata_value_chars
        elif branch["type"] == "integer":
            branch.update(minimum=-_INT64, maximum=_INT64 - 1)


def _string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    return next(branch for branch in schema["anyOf"] if branch.get("type") == "string")
