"""One uvicorn server, two ports: each request reaches the app of the port it arrived on."""

from __future__ import annotations

import pytest
from starlette.types import Message, Receive, Scope, Send

from docflow.common.ops import ByPort, uvicorn_options
from docflow.common.settings import CommonSettings

pytestmark = pytest.mark.unit


class Recorder:
    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)


async def _receive() -> Message:
    return {"type": "http.disconnect"}


async def _send(message: Message) -> None:
    return None


async def test_requests_are_served_by_the_app_of_their_port() -> None:
    api, ops = Recorder(), Recorder()
    dispatcher = ByPort(api=api, ops=ops, ops_port=9101)
    await dispatcher({"type": "http", "server": ("127.0.0.1", 9101)}, _receive, _send)
    await dispatcher({"type": "http", "server": ("127.0.0.1", 8001)}, _receive, _send)
    await dispatcher({"type": "http", "server": None}, _receive, _send)
    await dispatcher({"type": "lifespan"}, _receive, _send)
    assert [scope["type"] for scope in ops.scopes] == ["http"]
    assert len(api.scopes) == 3
    assert api.scopes[-1]["type"] == "lifespan", "the lifespan belongs to the API app"


def test_no_proxy_is_trusted_by_default() -> None:
    options = uvicorn_options(CommonSettings())
    assert options["proxy_headers"] is False
    assert options["forwarded_allow_ips"] == []


def test_proxy_headers_are_read_from_the_named_proxies_only() -> None:
    options = uvicorn_options(CommonSettings(forwarded_allow_ips="10.0.0.0/8, 192.168.1.1"))
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.0/8, 192.168.1.1"


def test_the_graceful_shutdown_is_a_setting() -> None:
    assert uvicorn_options(CommonSettings())["timeout_graceful_shutdown"] == 30
    options = uvicorn_options(CommonSettings(graceful_shutdown_s=12))
    assert options["timeout_graceful_shutdown"] == 12


def test_idle_connections_outlive_a_load_balancers_idle_timeout() -> None:
    # uvicorn's own default (5 s) closes first: a client reusing the connection at that moment
    # got "Remote end closed connection without response" in the soak.
    assert uvicorn_options(CommonSettings())["timeout_keep_alive"] > 60
    assert uvicorn_options(CommonSettings(http_keep_alive_s=7))["timeout_keep_alive"] == 7
