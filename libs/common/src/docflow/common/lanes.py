"""Lanes: the busiest requests of one route, answered before FastAPI's router.

A lane stands in for one FastAPI route, named by method and path template. It is the
innermost middleware, so the request id, security headers, access log, metrics, CORS and the
rate limit apply as to any request, and it sets `scope["route"]` to that route, so metrics and
logs cannot tell the two paths apart. A service supplies only `answer`: the response, or None
to leave the request to the route (decided before reading the body). Its errors are rendered
as the app's exception handlers render them. The route keeps the OpenAPI description and
serves every request the lane passes on; both call the same module of request rules, and a
parity test per lane checks that they answer alike.

Why: on the busiest requests FastAPI's route matching, dependency, exception and exit-stack
layers cost as much CPU as the work itself (profiles in the services' READMEs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from re import Pattern
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.convertors import Convertor
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from docflow.common.errors import DocflowError, render_docflow_error, render_validation_error

# The lane's request logic: `scope["path_params"]` holds the template's parameters.
Answer = Callable[[Scope, Receive], Awaitable[Response | None]]


class Lane:
    def __init__(
        self,
        app: ASGIApp,
        *,
        method: str,
        path: str,
        route: BaseRoute,
        answer: Answer,
    ) -> None:
        self.app = app
        self.method = method
        self.path_regex: Pattern[str]
        self.convertors: dict[str, Convertor[Any]]
        self.path_regex, _, self.convertors = compile_path(path)
        self.route = route
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == self.method:
            match = self.path_regex.match(scope["path"])
            if match is not None and await self._answer(scope, receive, send, match.groupdict()):
                return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]
    ) -> bool:
        scope["route"] = self.route
        scope["path_params"] = {
            name: self.convertors[name].convert(value) for name, value in params.items()
        }
        response: Response | None
        try:
            response = await self.answer(scope, receive)
        except DocflowError as exc:
            response = render_docflow_error(exc)
        except RequestValidationError as exc:
            response = render_validation_error(exc)
        except ClientDisconnect:
            return True  # nobody is left to answer
        if response is None:
            return False
        await response(scope, receive, send)
        return True


def install_lane(app: FastAPI, *, method: str, path: str, answer: Answer) -> None:
    """Answer `method path` with `answer` before the router; the route must be included."""
    route = _route(app, method, path)
    # Appended, not added: the lane must run innermost, after the middleware of every request.
    app.user_middleware.append(
        Middleware(Lane, method=method, path=path, route=route, answer=answer)
    )


def _route(app: FastAPI, method: str, path: str) -> BaseRoute:
    for context in iter_route_contexts(app.routes):
        if context.path == path and method in (context.methods or ()):
            return context.original_route
    raise LookupError(f"no route {method} {path} to stand in for; include its router first")
