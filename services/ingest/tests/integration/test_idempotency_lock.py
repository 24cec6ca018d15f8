"""The Idempotency-Key lock on the real Redis: held while its request runs, however long, and
lapsing soon after its owner died (a crashed replica must not block the client's retry for long).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from docflow.ingest.documents.idempotency import Claim, IdempotencyStore
from docflow.ingest.errors import IdempotencyInProgress
from docflow.ingest.settings import IngestSettings

pytestmark = pytest.mark.integration

LOCK_S = 1


@pytest.fixture
async def store(settings: IngestSettings) -> AsyncIterator[IdempotencyStore]:
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    try:
        yield IdempotencyStore(redis, settings.model_copy(update={"idempotency_lock_s": LOCK_S}))
    finally:
        await redis.aclose()


async def claim(store: IdempotencyStore, key: str) -> Claim:
    outcome = await store.claim(tenant_id="default", key=key, body_fingerprint="f")
    assert isinstance(outcome, Claim)
    return outcome


async def test_a_running_request_keeps_its_key_past_the_lock_time(store: IdempotencyStore) -> None:
    first = await claim(store, "slow-request")
    async with store.holding(first):
        await asyncio.sleep(LOCK_S * 2.5)
        with pytest.raises(IdempotencyInProgress):
            await store.claim(tenant_id="default", key="slow-request", body_fingerprint="f")


async def test_the_key_of_a_crashed_request_is_free_again_after_the_lock_time(
    store: IdempotencyStore,
) -> None:
    await claim(store, "crashed")  # its owner never completes nor releases: it died
    with pytest.raises(IdempotencyInProgress):
        await store.claim(tenant_id="default", key="crashed", body_fingerprint="f")
    await asyncio.sleep(LOCK_S + 0.3)
    assert (await claim(store, "crashed")).redis_key is not None


def test_a_crash_blocks_retries_for_seconds_not_a_minute() -> None:
    assert IngestSettings().idempotency_lock_s <= 10
