"""Every reply of the ingest API held to what its route declares for OpenAPI.

The endpoints build their envelopes as plain dicts (nothing validates them on the way out), so
the tests check each body against the route's `response_model` or its `responses=` model for
that status: it must validate, and dumping it again must give back exactly the body (no key
the model lacks, no value the model would coerce). A reply to no route must be the error
envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter

from docflow.common.envelope import APIResponse
from docflow.common.identity.middleware import is_protected
from docflow.testing import bearer

ERROR_ENVELOPE = APIResponse[None]


def check_reply(app: FastAPI, response: httpx.Response) -> None:
    request = response.request
    route = _route(app, request.method, request.url.path)
    if route is None:
        if response.status_code >= 400:
            _check_body(ERROR_ENVELOPE, response)
        return
    if route.response_model is None:
        return  # not an envelope endpoint (the AsyncAPI document and page)
    model = _declared_model(route, response.status_code)
    if model is None and response.status_code == 401 and is_protected(request.url.path):
        # Declared for every /v1 operation by document_bearer_auth, in the OpenAPI document
        # rather than on each route.
        model = ERROR_ENVELOPE
    assert model is not None, (
        f"{request.method} {request.url.path} answered {response.status_code}, "
        "a status its route does not declare"
    )
    _check_body(model, response)


def _route(app: FastAPI, method: str, path: str) -> APIRoute | None:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if (
            isinstance(route, APIRoute)
            and method in (route.methods or ())
            and context.path_regex.match(path) is not None
        ):
            return route
    return None


def _declared_model(route: APIRoute, status: int) -> Any:
    if status == (route.status_code or 200):
        return route.response_model
    declared = route.responses.get(status) or route.responses.get(str(status)) or {}
    return declared.get("model")


def _check_body(model: Any, response: httpx.Response) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    body = response.json()
    again = adapter.dump_python(
        adapter.validate_json(response.content), mode="json", exclude_unset=True
    )
    assert again == body, f"the body is not a {model}: {body}"


ClientFor = Callable[[str], Awaitable[httpx.AsyncClient]]


def checked_client(app: FastAPI, key: str) -> httpx.AsyncClient:
    """A client sending `key`; every reply is held to its route by `check_reply`."""

    async def checked(response: httpx.Response) -> None:
        await response.aread()
        check_reply(app, response)

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers=bearer(key),
        event_hooks={"response": [checked]},
    )
