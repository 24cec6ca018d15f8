"""PipelinedGet against servers that misbehave: garbage, hang-ups, silence, nothing listening.

Each server is a small asyncio TCP server in the test; its n-th connection is served by the
n-th behaviour, so a test can check that the call after a failure connects again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from docflow.query.cache.pipelined_get import PipelinedGet, supports
from docflow.testing import free_port

pytestmark = pytest.mark.unit

TIMEOUT_S = 0.2
VALUE = b"the value"

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_command(reader: asyncio.StreamReader) -> list[bytes]:
    """One RESP array of bulk strings, as the client sends them; [] at end of stream."""
    header = await reader.readline()
    if not header:
        return []
    parts = []
    for _ in range(int(header[1:])):
        length = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(length + 2))[:-2])
    return parts


async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A working Redis: OK to AUTH and SELECT, VALUE to every GET."""
    while command := await read_command(reader):
        if command[0] == b"GET":
            writer.write(b"$%d\r\n%b\r\n" % (len(VALUE), VALUE))
        else:
            writer.write(b"+OK\r\n")


def replies_with(raw: bytes) -> Behaviour:
    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_command(reader)
        writer.write(raw)
        await reader.read()  # until the client goes away

    return behaviour


def hangs_up_after(commands: int) -> Behaviour:
    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(commands):
            await read_command(reader)

    return behaviour


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


class ScriptedServer:
    """Counts the connections it accepts and those the client closed on its side."""

    def __init__(self, *behaviours: Behaviour) -> None:
        self.behaviours = list(behaviours)
        self.accepted = 0
        self.closed_by_client = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        behaviour = self.behaviours[min(self.accepted, len(self.behaviours) - 1)]
        self.accepted += 1
        try:
            await behaviour(reader, writer)
            if reader.at_eof():
                self.closed_by_client += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_client += 1
        finally:
            writer.close()

    def url(self, *, auth: str = "") -> str:
        return f"redis://{auth}127.0.0.1:{self.port}/0"


Serve = Callable[..., Awaitable[ScriptedServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(*behaviours: Behaviour) -> ScriptedServer:
        scripted = ScriptedServer(*behaviours)
        server = await asyncio.start_server(scripted.serve, "127.0.0.1", 0)
        scripted.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return scripted

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[PipelinedGet]]:
    created: list[PipelinedGet] = []
    yield created
    for client in created:
        client.close()


@pytest.fixture
def connect(clients: list[PipelinedGet]) -> Callable[[str], PipelinedGet]:
    def new_client(url: str) -> PipelinedGet:
        client = PipelinedGet(url, connect_timeout_s=TIMEOUT_S, timeout_s=TIMEOUT_S)
        clients.append(client)
        return client

    return new_client


async def assert_next_get_connects_again(client: PipelinedGet, server: ScriptedServer) -> None:
    """The GET after a failure is served on a new connection; the failed one was closed."""
    after = await client.get("key")
    await asyncio.sleep(0.05)  # for the server's side to see the closed socket

    assert after == VALUE
    assert server.accepted == 2
    assert server.closed_by_client == 1


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"HTTP/1.1 400 Bad Request\r\n\r\n", id="not redis"),
        pytest.param(b"$abc\r\nxyz\r\n", id="bad bulk length"),
        pytest.param(b":not-a-number\r\n", id="bad integer"),
    ],
)
async def test_a_garbled_reply_raises_connection_error_and_the_next_get_connects_again(
    serve: Serve,
    connect: Callable[[str], PipelinedGet],
    reply: bytes,
) -> None:
    server = await serve(replies_with(reply), answers)
    client = connect(server.url())

    with pytest.raises(ConnectionError):
        await client.get("key")

    await assert_next_get_connects_again(client, server)


async def test_an_error_reply_raises_connection_error_on_a_connection_that_stays(
    serve: Serve, connect: Callable[[str], PipelinedGet]
) -> None:
    server = await serve(replies_with(b"-ERR no such thing\r\n"))
    client = connect(server.url())

    with pytest.raises(ConnectionError, match="no such thing"):
        await client.get("key")

    assert server.accepted == 1


async def test_a_hang_up_fails_every_get_in_flight_and_the_next_get_connects_again(
    serve: Serve, connect: Callable[[str], PipelinedGet]
) -> None:
    in_flight = 10
    server = await serve(hangs_up_after(in_flight), answers)
    client = connect(server.url())

    failures = await asyncio.gather(
        *(client.get(f"key:{n}") for n in range(in_flight)), return_exceptions=True
    )
    after = await client.get("key")

    assert all(isinstance(failure, ConnectionError) for failure in failures), failures
    assert after == VALUE
    assert server.accepted == 2


async def test_a_silent_server_times_out_within_the_budget_and_the_next_get_connects_again(
    serve: Serve, connect: Callable[[str], PipelinedGet]
) -> None:
    server = await serve(never_answers, answers)
    client = connect(server.url())
    started = time.monotonic()

    # The watchdog looks every half timeout, so a GET fails between one and 1.5 timeouts.
    async with asyncio.timeout(TIMEOUT_S * 5):
        failures = await asyncio.gather(
            *(client.get(f"key:{n}") for n in range(10)), return_exceptions=True
        )
    waited_s = time.monotonic() - started

    assert all(isinstance(failure, TimeoutError) for failure in failures), failures
    assert waited_s >= TIMEOUT_S
    await assert_next_get_connects_again(client, server)


async def test_an_idle_connection_outlives_the_timeout(
    serve: Serve, connect: Callable[[str], PipelinedGet]
) -> None:
    server = await serve(answers)
    client = connect(server.url())

    first = await client.get("key")
    await asyncio.sleep(TIMEOUT_S * 3)  # the watchdog runs, with nothing in flight
    second = await client.get("key")

    assert first == second == VALUE
    assert server.accepted == 1


async def test_a_handshake_without_answer_times_out_and_closes_its_socket(
    serve: Serve, connect: Callable[[str], PipelinedGet]
) -> None:
    server = await serve(never_answers, answers)
    client = connect(server.url(auth=":password@"))

    async with asyncio.timeout(TIMEOUT_S * 5):
        with pytest.raises(TimeoutError):
            await client.get("key")

    await assert_next_get_connects_again(client, server)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"redis://127.0.0.1:{free_port()}/0", id="nothing listening"),
        pytest.param("redis://no-such-host.invalid:6379/0", id="unknown host"),
    ],
)
async def test_a_failed_connect_raises_connection_error_or_timeout_error(
    connect: Callable[[str], PipelinedGet], url: str
) -> None:
    client = connect(url)

    with pytest.raises((ConnectionError, TimeoutError)):
        await client.get("key")


@pytest.mark.parametrize(
    ("url", "supported"),
    [
        ("redis://127.0.0.1:6379/0", True),
        ("rediss://127.0.0.1:6379/0", False),
        ("unix:///run/redis.sock", False),
    ],
)
def test_only_plain_tcp_urls_are_supported(url: str, supported: bool) -> None:
    assert supports(url) is supported
    if not supported:
        with pytest.raises(ValueError, match="plain redis://"):
            PipelinedGet(url, connect_timeout_s=TIMEOUT_S, timeout_s=TIMEOUT_S)
