"""The one object the middleware asks "who is this?": API keys always, OIDC tokens when set up.

It owns its MongoDB client (opened and closed around the service's lifespan by
`create_service_app`), so every service authenticates alike without wiring it into its own
state. The client is small: it reads one record by `_id` per cache miss.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from pymongo import AsyncMongoClient

from docflow.common.clients import create_mongo_client, mongo_database
from docflow.common.identity.keys import KEY_PREFIX, Identity
from docflow.common.identity.repository import ApiKeyRepository, StoredKey
from docflow.common.identity.verifier import ApiKeyVerifier, IdentityStoreUnavailable
from docflow.common.settings import CommonSettings

_SERVER_SELECTION_TIMEOUT_MS = 2000  # a miss during an outage fails fast with 503
_KEY_PREFIX = f"{KEY_PREFIX}_"

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Identity | None: ...


class Authenticator:
    """Routes a bearer token to its verifier: `dfk_` keys to the key store, anything shaped
    like a JWT (three dot-separated parts) to OIDC when it is configured."""

    def __init__(self, api_keys: TokenVerifier, oidc: TokenVerifier | None = None) -> None:
        self.api_keys = api_keys
        self.oidc = oidc

    async def authenticate(self, token: str) -> Identity | None:
        if token.startswith(_KEY_PREFIX):
            return await self.api_keys.verify(token)
        if self.oidc is not None and token.count(".") == 2:
            return await self.oidc.verify(token)
        return None


class StoreAuthenticator(Authenticator):
    """The Authenticator of a service: keys read from the configured MongoDB."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._client: AsyncMongoClient[Any] | None = None
        self._repository: ApiKeyRepository | None = None
        verifier = ApiKeyVerifier(
            self._find_key,
            ttl_s=settings.auth_cache_ttl_s,
            negative_ttl_s=settings.auth_negative_ttl_s,
            max_size=settings.auth_cache_size,
        )
        super().__init__(verifier, _oidc_verifier(settings))

    async def _find_key(self, key_id: str) -> StoredKey | None:
        if self._repository is None:
            raise IdentityStoreUnavailable("the key store is not open (outside the lifespan)")
        return await self._repository.find(key_id)

    def open(self) -> None:
        self._client = create_mongo_client(
            self.settings, server_selection_timeout_ms=_SERVER_SELECTION_TIMEOUT_MS
        )
        self._repository = ApiKeyRepository(mongo_database(self._client, self.settings))

    async def close(self) -> None:
        self._repository = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def around(self, lifespan: Lifespan) -> Lifespan:
        """The service's lifespan, with the key store open for as long as it runs."""

        @asynccontextmanager
        async def with_key_store(app: Any) -> AsyncIterator[Any]:
            self.open()
            try:
                async with lifespan(app) as state:
                    yield state
            finally:
                await self.close()

        return with_key_store


def _oidc_verifier(settings: CommonSettings) -> TokenVerifier | None:
    if not settings.oidc_jwks_url:
        return None
    from docflow.common.identity.oidc import OidcVerifier

    return OidcVerifier.from_settings(settings)
