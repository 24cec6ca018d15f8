"""A route class that caps the request body before FastAPI parses it.

The size comes from settings at request time. A declared Content-Length over the limit is
refused at once; otherwise the body is read chunk by chunk and refused as soon as it passes the
limit, so a huge body is never held in memory whole. The 413 is an envelope like every error.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope

from docflow.ingest.deps import services_of
from docflow.ingest.errors import BodyTooLarge
from docflow.ingest.settings import IngestSettings

LimitOf = Callable[[IngestSettings], int]


async def read_bounded_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, or BodyTooLarge as soon as it is known to exceed `limit` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise _too_large(limit)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body exceeds {limit} bytes.", details={"max_bytes": limit})


def bounded_body_route(limit_of: LimitOf) -> type[APIRoute]:
    """An APIRoute subclass whose body may not exceed `limit_of(settings)` bytes."""

    class BoundedBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def bounded_handler(request: Request) -> Response:
                limit = limit_of(services_of(request.app).settings)
                body = await read_bounded_body(request.scope, request.receive, limit)
                # Starlette caches the body here; FastAPI then parses it from the cache.
                request._body = body
                return await handler(request)

            return bounded_handler

    return BoundedBodyRoute
