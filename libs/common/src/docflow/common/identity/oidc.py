"""Optional OIDC: bearer JWTs signed by the identity provider's keys (its JWKS URL).

On when `OIDC_JWKS_URL` is set, with `OIDC_ISSUER` and `OIDC_AUDIENCE` required beside it. The
tenant comes from the claim `OIDC_TENANT_CLAIM` and must be a valid tenant name; the caller's
`key_id` is `oidc:<sub>`. PyJWT's JWKS client fetches over blocking HTTP, so it runs in a worker
thread; it caches the key set (and refetches it for an unknown `kid`, at most as often as the
failure limit lets a client fail). Verified tokens are cached like API keys, never past `exp`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import jwt

from docflow.common.identity.cache import BoundedTTLCache
from docflow.common.identity.keys import TENANT_NAME, Identity
from docflow.common.identity.verifier import Clock, IdentityStoreUnavailable
from docflow.common.settings import CommonSettings

# Asymmetric algorithms only: a provider's public JWKS must never verify an HMAC token.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
_JWKS_CACHE_S = 300
_JWKS_TIMEOUT_S = 5


class OidcVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        tenant_claim: str,
        ttl_s: float,
        max_size: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._jwks = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=_JWKS_CACHE_S, timeout=_JWKS_TIMEOUT_S
        )
        self.issuer = issuer
        self.audience = audience
        self.tenant_claim = tenant_claim
        self._clock = clock
        self.verified: BoundedTTLCache[Identity] = BoundedTTLCache(max_size=max_size, ttl_s=ttl_s)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> OidcVerifier:
        # Settings refuse a JWKS URL without issuer and audience.
        return cls(
            jwks_url=str(settings.oidc_jwks_url),
            issuer=str(settings.oidc_issuer),
            audience=str(settings.oidc_audience),
            tenant_claim=settings.oidc_tenant_claim,
            ttl_s=settings.auth_cache_ttl_s,
            max_size=settings.auth_cache_size,
        )

    async def verify(self, token: str) -> Identity | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        hit = self.verified.fresh(digest, now)
        if hit is not None:
            return hit.value
        try:
            claims = await asyncio.to_thread(self._decode, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityStoreUnavailable("the JWKS URL did not answer") from exc
        except jwt.PyJWTError:
            return None
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or TENANT_NAME.fullmatch(tenant) is None:
            return None
        identity = Identity(tenant=tenant, key_id=f"oidc:{claims['sub']}", method="oidc")
        lifetime = float(claims["exp"]) - time.time()
        self.verified.put(digest, identity, now, ttl_s=min(self.verified.ttl_s, lifetime))
        return identity

    def _decode(self, token: str) -> dict[str, Any]:
        signing_key = self._jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=ALGORITHMS,
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return claims
