"""The key store on the real FerretDB: create, list, revoke, and verification through it."""

from __future__ import annotations

from typing import Any

import pytest

from docflow.common.identity.keys import Identity, hash_key
from docflow.common.identity.repository import API_KEYS, TENANTS, ApiKeyRepository
from docflow.common.identity.verifier import ApiKeyVerifier

pytestmark = pytest.mark.integration


async def test_a_key_is_stored_as_a_hash_under_its_id_with_its_tenant(test_db: Any) -> None:
    keys = ApiKeyRepository(test_db)
    new, stored = await keys.create_key(tenant="acme", name="billing")

    record = await test_db[API_KEYS].find_one({"_id": new.key_id})
    assert record["key_hash"] == hash_key(new.key)
    assert new.key not in str(record)
    assert record["tenant_id"] == "acme"
    assert record["revoked_at"] is None
    assert await test_db[TENANTS].find_one({"_id": "acme"}) is not None
    assert stored.key_id == new.key_id


async def test_a_tenant_is_created_once(test_db: Any) -> None:
    keys = ApiKeyRepository(test_db)
    assert await keys.ensure_tenant("acme") is True
    assert await keys.ensure_tenant("acme") is False
    await keys.create_key(tenant="acme")
    assert await test_db[TENANTS].count_documents({}) == 1


async def test_listing_shows_no_secret_and_revocation_is_recorded(test_db: Any) -> None:
    keys = ApiKeyRepository(test_db)
    first, _ = await keys.create_key(tenant="acme", name="one")
    second, _ = await keys.create_key(tenant="other", name="two")

    assert await keys.revoke(first.key_id) is True
    assert await keys.revoke(first.key_id) is False
    assert await keys.revoke("0" * 16) is False
    listed = [key.public() for key in await keys.list_keys()]
    only_other = await keys.list_keys(tenant="other")

    assert [row["key_id"] for row in listed] == [first.key_id, second.key_id]
    assert set(listed[0]) == {"key_id", "tenant", "name", "created_at", "revoked_at"}
    assert listed[0]["revoked_at"] is not None
    assert listed[1]["revoked_at"] is None
    assert [key.key_id for key in only_other] == [second.key_id]


async def test_the_verifier_reads_the_store_once_per_ttl(test_db: Any) -> None:
    keys = ApiKeyRepository(test_db)
    new, _ = await keys.create_key(tenant="acme")
    now = [0.0]
    verifier = ApiKeyVerifier(
        keys.find, ttl_s=30, negative_ttl_s=5, max_size=10, clock=lambda: now[0]
    )

    assert await verifier.verify(new.key) == Identity(tenant="acme", key_id=new.key_id)
    await keys.revoke(new.key_id)
    assert await verifier.verify(new.key) is not None  # cached
    now[0] += 31
    assert await verifier.verify(new.key) is None
    assert verifier.lookups == 2
