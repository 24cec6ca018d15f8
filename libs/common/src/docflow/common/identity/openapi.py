"""The `bearerAuth` security scheme in the OpenAPI document, on every `/v1` operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from docflow.common.envelope import APIResponse
from docflow.common.identity.middleware import is_protected

SCHEME = "bearerAuth"
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def document_bearer_auth(app: FastAPI) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`make api-key TENANT=<name>`); it decides the tenant.",
        }
        schemas = components.setdefault("schemas", {})
        unauthorized_ref = _envelope_ref(schemas)
        for path, item in document.get("paths", {}).items():
            if not is_protected(path):
                continue
            for method, operation in item.items():
                if method in _HTTP_METHODS:
                    operation["security"] = [{SCHEME: []}]
                    operation.setdefault("responses", {}).setdefault(
                        "401",
                        {
                            "description": "Missing, unknown or revoked API key",
                            "content": {"application/json": {"schema": unauthorized_ref}},
                        },
                    )
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _envelope_ref(schemas: dict[str, Any]) -> dict[str, str]:
    model = APIResponse[None]
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    name = model.__name__.replace("[", "_").replace("]", "_")
    schemas.setdefault(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}
