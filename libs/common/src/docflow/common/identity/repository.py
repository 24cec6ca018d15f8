"""The `tenants` and `api_keys` collections. Queries on identity live only here.

A key's record has `_id` = its key id, so the lookup on the request path is a `find_one` by
`_id`, the one filter every MongoDB-wire store answers from its primary index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from docflow.common.identity.keys import NewKey, check_tenant, generate_key

TENANTS = "tenants"
API_KEYS = "api_keys"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What the store knows of a key: never the key itself, only its hash."""

    key_id: str
    tenant: str
    name: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def public(self) -> dict[str, Any]:
        """The fields a listing may show: no hash."""
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "name": self.name,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "revoked_at": (
                self.revoked_at.isoformat(timespec="seconds") if self.revoked_at else None
            ),
        }


def _stored(record: dict[str, Any]) -> StoredKey:
    return StoredKey(
        key_id=record["_id"],
        tenant=record["tenant_id"],
        name=record.get("name", ""),
        key_hash=record["key_hash"],
        created_at=record["created_at"],
        revoked_at=record.get("revoked_at"),
    )


class ApiKeyRepository:
    def __init__(self, database: AsyncDatabase[Any]) -> None:
        self.tenants = database[TENANTS]
        self.keys = database[API_KEYS]

    async def ensure_tenant(self, tenant: str) -> bool:
        """Create the tenant if it is new; True when it was created."""
        try:
            await self.tenants.insert_one(
                {"_id": check_tenant(tenant), "created_at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            return False
        return True

    async def create_key(self, *, tenant: str, name: str = "") -> tuple[NewKey, StoredKey]:
        """A new key for `tenant` (created if new). The key itself is returned only here."""
        await self.ensure_tenant(tenant)
        new = generate_key()
        record = {
            "_id": new.key_id,
            "tenant_id": tenant,
            "name": name,
            "key_hash": new.key_hash,
            "created_at": datetime.now(UTC),
            "revoked_at": None,
        }
        await self.keys.insert_one(record)
        return new, _stored(record)

    async def find(self, key_id: str) -> StoredKey | None:
        record = await self.keys.find_one({"_id": key_id})
        return _stored(record) if record is not None else None

    async def list_keys(self, *, tenant: str | None = None) -> list[StoredKey]:
        query = {"tenant_id": tenant} if tenant is not None else {}
        records = await self.keys.find(query).to_list()
        return sorted((_stored(record) for record in records), key=lambda key: key.created_at)

    async def revoke(self, key_id: str) -> bool:
        """Revoke the key; False when there is no such key or it was already revoked."""
        result = await self.keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )
        return result.modified_count == 1
