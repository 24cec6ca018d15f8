"""Identity and tenant isolation, from outside: two tenants with their own keys, against ingest and
query running as processes. Each test is a finding of the security review that today's code
fixes (README, "Security").
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from docflow.testing import ServiceProcess, bearer
from tests.security.conftest import api_key, service

pytestmark = pytest.mark.integration

MALFORMED = "dfk_0000000000000000_" + "a" * 43


@pytest.fixture(scope="module")
def limited_ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """ingest with a small rate limit, to check what the limit is keyed by."""
    env = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_DEFAULT": "5/minute"}
    with service("ingest", tmp_path_factory.mktemp("limited"), env) as process:
        yield process


async def _tenant_client(tenant: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers=bearer(await api_key(tenant)), timeout=60)


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": f"Bearer {MALFORMED}"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no key", "unknown key", "another scheme"],
)
async def test_every_v1_endpoint_needs_a_key(
    ingest_service: ServiceProcess, query_service: ServiceProcess, headers: dict[str, str]
) -> None:
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{ingest_service.url}/v1/documents", {"json": {"content": "x"}}),
        ("POST", f"{ingest_service.url}/v1/documents/batch", {"json": {"documents": []}}),
        ("POST", f"{ingest_service.url}/v1/documents/upload", {"files": {"file": ("a.txt", b"x")}}),
        ("GET", f"{query_service.url}/v1/documents/abc", {}),
        ("GET", f"{query_service.url}/v1/documents", {}),
        ("GET", f"{query_service.url}/v1/stats", {}),
    ]
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        for method, url, options in requests:
            response = await http.request(method, url, **options)
            assert response.status_code == 401, (method, url, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_tenant_sees_only_its_own_documents_through_every_endpoint(
    ingest_service: ServiceProcess, query_service: ServiceProcess
) -> None:
    a, b = _tenant(), _tenant()
    content = f"The merger agreement of {uuid.uuid4()} is confidential."
    async with await _tenant_client(a) as alice, await _tenant_client(b) as bob:
        posted = await alice.post(f"{ingest_service.url}/v1/documents", json={"content": content})
        assert posted.status_code == 202, posted.text
        document_id = posted.json()["data"]["id"]

        for _ in range(2):  # the second read of A's document is a cache hit (query's lane)
            mine = await alice.get(f"{query_service.url}/v1/documents/{document_id}")
            assert mine.status_code == 200
            assert mine.json()["data"]["tenant_id"] == a
            assert "private" in mine.headers["cache-control"]
            assert "no-store" in mine.headers["cache-control"]
        unknown_id = uuid.uuid4().hex
        unknown = await bob.get(f"{query_service.url}/v1/documents/{unknown_id}")
        for query in ("", "?include_content=false"):
            theirs = await bob.get(f"{query_service.url}/v1/documents/{document_id}{query}")
            assert theirs.status_code == 404
            error = theirs.json()["error"]
            error["message"] = error["message"].replace(document_id, unknown_id)
            assert error == unknown.json()["error"], "a 404 unlike an unknown id's"
        revalidated = await bob.get(
            f"{query_service.url}/v1/documents/{document_id}",
            headers={"If-None-Match": mine.headers["etag"]},
        )
        assert revalidated.status_code == 404

        listed = await bob.get(f"{query_service.url}/v1/documents")
        assert listed.json()["data"]["items"] == []
        stats = await bob.get(f"{query_service.url}/v1/stats")
        assert stats.json()["data"]["total"] == 0
        own_stats = await alice.get(f"{query_service.url}/v1/stats")
        assert own_stats.json()["data"]["total"] == 1

        # The duplicate oracle: the same text under B is B's own new document.
        again = await bob.post(f"{ingest_service.url}/v1/documents", json={"content": content})
        assert again.status_code == 202, again.text
        assert again.json()["data"]["duplicate"] is False
        assert again.json()["data"]["id"] != document_id


async def test_the_body_cannot_choose_another_tenant(ingest_service: ServiceProcess) -> None:
    a, b = _tenant(), _tenant()
    async with await _tenant_client(a) as alice:
        response = await alice.post(
            f"{ingest_service.url}/v1/documents", json={"content": "Mine.", "tenant_id": b}
        )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "tenant_mismatch"


async def test_an_idempotency_key_replays_only_to_its_own_tenant(
    ingest_service: ServiceProcess,
) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    body = {"content": f"Invoice {uuid.uuid4()}."}
    async with await _tenant_client(_tenant()) as alice, await _tenant_client(_tenant()) as bob:
        first = await alice.post(f"{ingest_service.url}/v1/documents", json=body, headers=key)
        replay = await alice.post(f"{ingest_service.url}/v1/documents", json=body, headers=key)
        other = await bob.post(f"{ingest_service.url}/v1/documents", json=body, headers=key)
    assert replay.headers.get("idempotency-replayed") == "true"
    assert replay.json()["data"] == first.json()["data"]
    assert "idempotency-replayed" not in other.headers
    assert other.json()["data"]["id"] != first.json()["data"]["id"]


async def test_rotating_x_forwarded_for_does_not_reset_the_rate_limit(
    limited_ingest: ServiceProcess,
) -> None:
    """Forwarded headers count only from FORWARDED_ALLOW_IPS (empty by default), and limits
    are kept per key: a client cannot buy a new budget by naming another address."""
    async with await _tenant_client(_tenant()) as http:
        statuses = []
        for i in range(8):
            response = await http.post(
                f"{limited_ingest.url}/v1/documents",
                json={"content": f"Note {i} {uuid.uuid4()}."},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            statuses.append(response.status_code)
    assert statuses[:5] == [202] * 5
    assert set(statuses[5:]) == {429}


async def test_two_keys_behind_one_address_have_their_own_budgets(
    limited_ingest: ServiceProcess,
) -> None:
    async def spend(http: httpx.AsyncClient, n: int) -> list[int]:
        statuses = []
        for i in range(n):
            response = await http.post(
                f"{limited_ingest.url}/v1/documents", json={"content": f"{i} {uuid.uuid4()}"}
            )
            statuses.append(response.status_code)
        return statuses

    async with await _tenant_client(_tenant()) as alice, await _tenant_client(_tenant()) as bob:
        assert (await spend(alice, 6))[-1] == 429
        assert await spend(bob, 5) == [202] * 5


async def test_operations_endpoints_are_not_on_the_api_port(
    ingest_service: ServiceProcess, query_service: ServiceProcess
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for process in (ingest_service, query_service):
            for path in ("/metrics", "/health/ready", "/health/detailed"):
                assert (await http.get(f"{process.url}{path}")).status_code == 404, path
                assert (await http.get(f"{process.ops_url}{path}")).status_code in (200, 503)
            health = await http.get(f"{process.url}/health")
            assert health.status_code == 200
            assert set(health.json()["data"]) <= {"status", "service"}, health.text


async def test_concurrent_reads_of_two_tenants_never_cross(
    ingest_service: ServiceProcess, query_service: ServiceProcess
) -> None:
    """Many interleaved cached reads: each tenant only ever gets its own document."""
    clients: dict[str, httpx.AsyncClient] = {}
    ids: dict[str, str] = {}
    try:
        for tenant in (_tenant(), _tenant()):
            clients[tenant] = await _tenant_client(tenant)
            posted = await clients[tenant].post(
                f"{ingest_service.url}/v1/documents", json={"content": f"{tenant}'s own words."}
            )
            ids[tenant] = posted.json()["data"]["id"]

        async def read(tenant: str, document_id: str) -> tuple[str, str, int, Any]:
            response = await clients[tenant].get(f"{query_service.url}/v1/documents/{document_id}")
            data = response.json()["data"]
            return tenant, document_id, response.status_code, data and data["tenant_id"]

        reads = [
            read(tenant, document_id)
            for _ in range(20)
            for tenant in clients
            for document_id in ids.values()
        ]
        for tenant, document_id, status, owner in await asyncio.gather(*reads):
            if ids[tenant] == document_id:
                assert (status, owner) == (200, tenant)
            else:
                assert status == 404
    finally:
        for http in clients.values():
            await http.aclose()
