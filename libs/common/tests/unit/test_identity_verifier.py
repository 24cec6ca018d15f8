"""The verifier's cache: hits skip the store, TTLs bound staleness, garbage stays bounded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pymongo.errors import AutoReconnect

from docflow.common.identity.keys import Identity, generate_key
from docflow.common.identity.repository import StoredKey
from docflow.common.identity.verifier import (
    STALE_IF_ERROR_S,
    ApiKeyVerifier,
    IdentityStoreUnavailable,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    """Keys by id, as the repository returns them; counts reads; can be made to fail."""

    def __init__(self) -> None:
        self.keys: dict[str, StoredKey] = {}
        self.reads = 0
        self.delay_s = 0.0
        self.down = False

    def add(self, tenant: str = "acme") -> str:
        new = generate_key()
        self.keys[new.key_id] = StoredKey(
            key_id=new.key_id,
            tenant=tenant,
            name="",
            key_hash=new.key_hash,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        return new.key

    def revoke(self, key: str) -> None:
        key_id = key.split("_")[1]
        self.keys[key_id] = replace(self.keys[key_id], revoked_at=datetime.now(UTC))

    async def find(self, key_id: str) -> StoredKey | None:
        self.reads += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.down:
            raise AutoReconnect("connection refused")
        return self.keys.get(key_id)


def verifier(store: FakeStore, clock: FakeClock, *, max_size: int = 100) -> ApiKeyVerifier:
    return ApiKeyVerifier(store.find, ttl_s=30, negative_ttl_s=5, max_size=max_size, clock=clock)


async def test_a_cached_key_is_not_read_again_until_its_ttl_ends() -> None:
    store, clock = FakeStore(), FakeClock()
    key = store.add("acme")
    check = verifier(store, clock)

    first = await check.verify(key)
    clock.now += 29
    again = await check.verify(key)
    clock.now += 2
    after_ttl = await check.verify(key)

    assert first == again == after_ttl == Identity(tenant="acme", key_id=key.split("_")[1])
    assert store.reads == 2


async def test_a_revocation_takes_effect_when_the_ttl_ends() -> None:
    store, clock = FakeStore(), FakeClock()
    key = store.add()
    check = verifier(store, clock)
    assert await check.verify(key) is not None

    store.revoke(key)
    still_cached = await check.verify(key)
    clock.now += 31
    assert still_cached is not None
    assert await check.verify(key) is None


async def test_a_wrong_secret_for_a_real_key_id_is_refused() -> None:
    store, clock = FakeStore(), FakeClock()
    key = store.add()
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert await verifier(store, clock).verify(forged) is None


async def test_rejections_are_cached_briefly() -> None:
    store, clock = FakeStore(), FakeClock()
    unknown = generate_key().key
    check = verifier(store, clock)

    results = [await check.verify(unknown) for _ in range(3)]
    clock.now += 6
    results.append(await check.verify(unknown))

    assert results == [None] * 4
    assert store.reads == 2


async def test_malformed_tokens_cost_no_read_and_no_memory() -> None:
    store, clock = FakeStore(), FakeClock()
    check = verifier(store, clock)
    for token in ["", "nope", "dfk_zz_zz", "a" * 5000]:
        assert await check.verify(token) is None
    assert store.reads == 0
    assert len(check.rejected) == 0


async def test_garbage_keys_cannot_grow_the_caches_past_their_bound() -> None:
    store, clock = FakeStore(), FakeClock()
    check = verifier(store, clock, max_size=50)
    for _ in range(500):
        await check.verify(generate_key().key)
    assert len(check.rejected) == 50
    assert len(check.verified) == 0


async def test_concurrent_misses_for_one_key_share_one_read() -> None:
    store, clock = FakeStore(), FakeClock()
    key = store.add()
    store.delay_s = 0.01
    check = verifier(store, clock)

    results = await asyncio.gather(*(check.verify(key) for _ in range(50)))

    assert all(result is not None for result in results)
    assert store.reads == 1


async def test_a_caller_cancelled_mid_read_does_not_fail_the_others() -> None:
    store, clock = FakeStore(), FakeClock()
    key = store.add()
    store.delay_s = 0.05
    check = verifier(store, clock)
    first = asyncio.ensure_future(check.verify(key))
    second = asyncio.ensure_future(check.verify(key))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second is not None
    assert store.reads == 1


async def test_during_a_store_outage_known_keys_work_and_unknown_ones_are_503() -> None:
    store, clock = FakeStore(), FakeClock()
    known, never_seen = store.add(), store.add()
    check = verifier(store, clock)
    assert await check.verify(known) is not None

    store.down = True
    clock.now += 60
    assert await check.verify(known) is not None
    with pytest.raises(IdentityStoreUnavailable):
        await check.verify(never_seen)
    clock.now += STALE_IF_ERROR_S
    with pytest.raises(IdentityStoreUnavailable):
        await check.verify(known)
