"""The cache-hit read: Redis GET over one pipelined connection, for the hot path only.

redis-py's asyncio client spends about 120 us of Python per command (pool checkout, retry
wrapper, per-command timeout task): on a cached read that was most of the request. Here every
GET issued in one event-loop iteration goes out in one write on one shared connection, and
hiredis parses the replies in order: a few microseconds per GET. Everything else (locks, fills,
invalidation) stays on redis-py.

Any failure raises ConnectionError or TimeoutError (both OSError), which the cache treats as
"Redis is down"; the next call after that connects again. Timeouts are watched per connection
(the oldest command in flight), not per call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url


class _Reply(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.outgoing: list[bytes] = []
        self.sent_at: deque[float] = deque()  # when each waiting command was sent
        self.failure: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, command: bytes, waiter: asyncio.Future[Any]) -> None:
        if not self.outgoing:
            # One write per loop iteration for every command queued in it.
            asyncio.get_running_loop().call_soon(self._write)
        self.outgoing.append(command)
        self.waiting.append(waiter)
        self.sent_at.append(time.monotonic())

    def _write(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                waiter = self.waiting.popleft()
                self.sent_at.popleft()
                if waiter.done():  # its caller timed out; the reply still keeps the order
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    waiter.set_exception(ConnectionError(f"redis error: {reply}"))
                else:
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            self.abort()

    def abort(self, reason: Exception | None = None) -> None:
        self.failure = reason
        if self.transport is not None:
            self.transport.abort()

    def oldest_wait_s(self) -> float:
        return time.monotonic() - self.sent_at[0] if self.sent_at else 0.0

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.sent_at.clear()
        failure = self.failure or ConnectionError("redis connection lost")
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(failure)


def supports(url: str) -> bool:
    """Plain TCP only; TLS and unix sockets keep redis-py's GET."""
    return url.startswith("redis://")


class PipelinedGet:
    """`await get(key)` -> the value's bytes or None."""

    def __init__(self, url: str, *, connect_timeout_s: float, timeout_s: float) -> None:
        if not supports(url):
            raise ValueError("PipelinedGet speaks plain redis:// only")
        options: dict[str, Any] = dict(parse_url(url))
        self.host = str(options.get("host", "127.0.0.1"))
        self.port = int(options.get("port", 6379))
        self.handshake = _handshake(options)
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self._protocol: _Reply | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def get(self, key: str) -> bytes | None:
        protocol = self._protocol
        if protocol is None or not protocol.usable:
            protocol = await self._connect()
        encoded = key.encode()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.send(b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(encoded), encoded), waiter)
        value: bytes | None = await waiter
        return value

    def _watch(self) -> None:
        """Every half timeout: a connection whose oldest command waits too long is dropped,
        failing its commands; a per-call timeout would cost more than the GET itself."""
        protocol = self._protocol
        if protocol is None or not protocol.usable:
            self._watchdog = None
            return
        if protocol.oldest_wait_s() > self.timeout_s:
            protocol.abort(TimeoutError("redis did not answer in time"))
        self._watchdog = asyncio.get_running_loop().call_later(self.timeout_s / 2, self._watch)

    async def _connect(self) -> _Reply:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and self._protocol.usable:
                return self._protocol
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self.connect_timeout_s):
                protocol = await self._open(loop)
            self._protocol = protocol
            if self._watchdog is None:
                self._watchdog = loop.call_later(self.timeout_s / 2, self._watch)
            return protocol

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Reply:
        """A connection that has passed AUTH and SELECT; nothing stays open when it fails."""
        try:
            _transport, protocol = await loop.create_connection(_Reply, self.host, self.port)
        except (ConnectionError, TimeoutError):
            raise
        except OSError as exc:  # e.g. a host name that does not resolve
            raise ConnectionError(f"cannot connect to redis: {exc}") from exc
        try:
            for command in self.handshake:
                waiter: asyncio.Future[Any] = loop.create_future()
                protocol.send(command, waiter)
                await waiter
        except BaseException:  # a refused AUTH or SELECT, or the connect timeout
            protocol.abort()
            raise
        return protocol

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._protocol is not None:
            self._protocol.abort()
            self._protocol = None


def _command(*parts: str) -> bytes:
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(
        b"$%d\r\n%b\r\n" % (len(part), part) for part in encoded
    )


def _handshake(options: dict[str, Any]) -> list[bytes]:
    commands = []
    password = options.get("password")
    if password:
        username = options.get("username")
        auth = ("AUTH", username, password) if username else ("AUTH", password)
        commands.append(_command(*auth))
    if int(options.get("db", 0) or 0):
        commands.append(_command("SELECT", str(options["db"])))
    return commands
