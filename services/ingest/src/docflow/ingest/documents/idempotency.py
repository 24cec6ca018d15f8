"""`Idempotency-Key`: the first successful response is kept in Redis and replayed on retries.

A record is keyed by tenant and key; it remembers a fingerprint of the request body, so the
same key with another body is refused. While the first request runs, the key holds a short
`pending` lock (SET NX, renewed while the request runs), so a concurrent retry gets 409 instead
of inserting twice, and a retry after the owner crashed waits only until the lock lapses. Failures
release the key: retrying a failed request runs it again. If Redis is down the request runs
without a replay record; the content hash still keeps the document from being stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.responses import Response

from docflow.common.envelope import ok
from docflow.ingest.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from docflow.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_REPLAYED = {"Idempotency-Replayed": "true"}


def fingerprint(payload: Any) -> str:
    """A stable hash of a request body's meaning (key order does not matter)."""
    try:
        encoded = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # A batch's items are raw JSON, judged one by one later: an integer past 64 bits or a
        # lone surrogate is a bad item, not a reason for a 500. The stdlib encodes both.
        encoded = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    data: Any


@dataclass(frozen=True, slots=True)
class Claim:
    """This request owns the key; `None` redis key means Redis was unavailable."""

    redis_key: str | None
    fingerprint: str


class IdempotencyStore:
    def __init__(self, redis: Redis, settings: IngestSettings) -> None:
        self.redis = redis
        self.settings = settings

    def redis_key(self, *, tenant_id: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:40]
        return f"{self.settings.redis_key_prefix}:ingest:idempotency:{tenant_id}:{digest}"

    async def claim(self, *, tenant_id: str, key: str, body_fingerprint: str) -> Claim | Replay:
        """Own the key for this request, or get the first response to replay."""
        if not _VALID_KEY.match(key):
            raise InvalidIdempotencyKey()
        redis_key = self.redis_key(tenant_id=tenant_id, key=key)
        pending = orjson.dumps({"state": "pending", "fingerprint": body_fingerprint})
        try:
            for _ in range(2):  # the record may expire between SET NX and GET
                if await self.redis.set(
                    redis_key, pending, nx=True, ex=self.settings.idempotency_lock_s
                ):
                    return Claim(redis_key=redis_key, fingerprint=body_fingerprint)
                stored = await self.redis.get(redis_key)
                if stored is not None:
                    return _replay(orjson.loads(stored), body_fingerprint)
        except RedisError as exc:
            logger.warning("idempotency store unavailable", extra={"error": type(exc).__name__})
        return Claim(redis_key=None, fingerprint=body_fingerprint)

    @contextlib.asynccontextmanager
    async def holding(self, claim: Claim) -> AsyncIterator[None]:
        """Keep the claim alive while its request runs: the lock lasts `idempotency_lock_s`
        and is renewed every third of that, so a retry after a crash of its owner waits at
        most that long, while a slow request keeps its key however long it takes."""
        if claim.redis_key is None:
            yield
            return
        renewal = asyncio.create_task(self._renew(claim.redis_key), name="idempotency-renewal")
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _renew(self, redis_key: str) -> None:
        lock_s = self.settings.idempotency_lock_s
        while True:
            await asyncio.sleep(lock_s / 3)
            try:
                await self.redis.expire(redis_key, lock_s)
            except RedisError as exc:
                logger.warning("idempotency lock not renewed", extra={"error": type(exc).__name__})

    async def complete(self, claim: Claim, *, status_code: int, data: Any) -> None:
        if claim.redis_key is None:
            return
        record = {
            "state": "done",
            "fingerprint": claim.fingerprint,
            "status_code": status_code,
            "data": data,
        }
        try:
            await self.redis.set(
                claim.redis_key, orjson.dumps(record), ex=self.settings.idempotency_ttl_s
            )
        except RedisError as exc:
            logger.warning("idempotency record not saved", extra={"error": type(exc).__name__})

    async def release(self, claim: Claim) -> None:
        if claim.redis_key is None:
            return
        try:
            await self.redis.delete(claim.redis_key)
        except RedisError as exc:
            logger.warning("idempotency key not released", extra={"error": type(exc).__name__})


def _replay(record: dict[str, Any], body_fingerprint: str) -> Replay:
    if record.get("fingerprint") != body_fingerprint:
        raise IdempotencyKeyReused()
    if record.get("state") != "done":
        raise IdempotencyInProgress(headers={"Retry-After": "1"})
    return Replay(status_code=int(record["status_code"]), data=record["data"])


async def respond_idempotently(
    *,
    store: IdempotencyStore,
    key: str | None,
    tenant_id: str,
    body_fingerprint: str,
    action: Callable[[], Awaitable[tuple[int, Any]]],
) -> Response:
    """Run `action` (returning status and data) once per key and answer in the envelope."""
    if key is None:
        status_code, data = await action()
        return ok(data, status_code=status_code)
    outcome = await store.claim(tenant_id=tenant_id, key=key, body_fingerprint=body_fingerprint)
    if isinstance(outcome, Replay):
        return ok(outcome.data, status_code=outcome.status_code, headers=_REPLAYED)
    try:
        async with store.holding(outcome):
            status_code, data = await action()
    except BaseException:
        await store.release(outcome)
        raise
    await store.complete(outcome, status_code=status_code, data=data)
    return ok(data, status_code=status_code)
