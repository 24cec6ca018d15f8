"""Optional OIDC: JWTs checked against a JWKS served by a small local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI
from jwt.algorithms import RSAAlgorithm

from docflow.common.app import create_service_app
from docflow.common.identity import Identity, IdentityDep
from docflow.common.identity.oidc import OidcVerifier
from docflow.common.identity.verifier import IdentityStoreUnavailable
from docflow.common.settings import CommonSettings
from docflow.testing import free_port

pytestmark = pytest.mark.unit

ISSUER = "https://idp.test/"
AUDIENCE = "docflow"


class Provider:
    """A signing key pair and the JWKS that publishes its public half."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    def token(self, **claims: Any) -> str:
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1",
            "tenant": "acme",
            "exp": int(time.time()) + 300,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def provider() -> Provider:
    return Provider()


@pytest.fixture(scope="module")
def jwks_url(provider: Provider) -> Iterator[str]:
    body = provider.jwks.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def verifier(jwks_url: str) -> OidcVerifier:
    return OidcVerifier(
        jwks_url=jwks_url,
        issuer=ISSUER,
        audience=AUDIENCE,
        tenant_claim="tenant",
        ttl_s=30,
        max_size=100,
    )


async def test_a_valid_token_names_its_tenant_and_subject(
    provider: Provider, jwks_url: str
) -> None:
    identity = await verifier(jwks_url).verify(provider.token())
    assert identity == Identity(tenant="acme", key_id="oidc:user-1", method="oidc")


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},
        {"iss": "https://elsewhere.test/"},
        {"exp": int(time.time()) - 10},
        {"tenant": None},
        {"tenant": "Not A Tenant"},
    ],
)
async def test_tokens_for_others_expired_or_without_a_valid_tenant_are_refused(
    provider: Provider, jwks_url: str, claims: dict[str, Any]
) -> None:
    assert await verifier(jwks_url).verify(provider.token(**claims)) is None


async def test_a_token_signed_by_another_key_is_refused(jwks_url: str) -> None:
    assert await verifier(jwks_url).verify(Provider().token()) is None


async def test_an_hmac_token_keyed_with_public_material_is_refused(jwks_url: str) -> None:
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "tenant": "acme", "exp": 2**31},
        "a-shared-secret-the-attacker-knows-32b",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    assert await verifier(jwks_url).verify(forged) is None


async def test_an_unreachable_jwks_is_503_not_401(provider: Provider) -> None:
    unreachable = verifier(f"http://127.0.0.1:{free_port()}/jwks.json")
    with pytest.raises(IdentityStoreUnavailable):
        await unreachable.verify(provider.token())


@asynccontextmanager
async def _no_lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


async def test_the_service_app_accepts_jwts_beside_api_keys(
    provider: Provider, jwks_url: str
) -> None:
    settings = CommonSettings(
        service_name="unit",
        rate_limit_enabled=False,
        oidc_jwks_url=jwks_url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
    )
    app = create_service_app(
        settings=settings,
        title="unit",
        description="unit",
        lifespan=_no_lifespan,
        health_checks=lambda _app: [],
    )
    router = APIRouter(prefix="/v1")

    @router.get("/whoami")
    async def whoami(identity: IdentityDep) -> dict[str, str]:
        return {"tenant": identity.tenant, "key_id": identity.key_id}

    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        good = await client.get(
            "/v1/whoami", headers={"authorization": f"Bearer {provider.token()}"}
        )
        bad = await client.get(
            "/v1/whoami", headers={"authorization": f"Bearer {Provider().token()}"}
        )

    assert good.status_code == 200
    assert good.json() == {"tenant": "acme", "key_id": "oidc:user-1"}
    assert bad.status_code == 401


def test_oidc_needs_issuer_and_audience() -> None:
    with pytest.raises(ValueError, match="OIDC_ISSUER and OIDC_AUDIENCE"):
        CommonSettings(oidc_jwks_url="http://127.0.0.1:1/jwks.json")
