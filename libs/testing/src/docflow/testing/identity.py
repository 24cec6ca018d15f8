"""API keys for tests: every `/v1` request needs one, stored in the database the app reads."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from docflow.common.identity.authenticator import Authenticator
from docflow.common.identity.keys import DEFAULT_TENANT, Identity
from docflow.common.identity.repository import ApiKeyRepository
from docflow.common.settings import CommonSettings


async def create_api_key(
    *, mongodb_uri: str, database: str, tenant: str = DEFAULT_TENANT, name: str = "test"
) -> str:
    """A new key for `tenant` in `database` (the tenant is created if new)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        new, _ = await ApiKeyRepository(client[database]).create_key(tenant=tenant, name=name)
    finally:
        await client.close()
    return new.key


async def api_key_for(settings: CommonSettings, *, tenant: str = DEFAULT_TENANT) -> str:
    """A new key in the MongoDB and database these settings point at."""
    return await create_api_key(
        mongodb_uri=settings.mongodb_uri.get_secret_value(),
        database=settings.mongodb_database,
        tenant=tenant,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class StaticKeys:
    """A key store in memory, for unit tests of apps that need no MongoDB."""

    def __init__(self, keys: dict[str, Identity]) -> None:
        self.keys = keys

    async def verify(self, token: str) -> Identity | None:
        return self.keys.get(token)


def static_authenticator(keys: dict[str, Identity]) -> Authenticator:
    """For `create_service_app(authenticator=...)`: these keys, and no others, get in."""
    return Authenticator(StaticKeys(keys))
