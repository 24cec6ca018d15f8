"""The service process serves its API and its operations port; each answers only its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from docflow.testing import Isolation, ServiceProcess, free_port

pytestmark = pytest.mark.integration

OPERATIONS_ONLY = ("/health/ready", "/health/detailed", "/metrics")


async def test_the_api_port_hides_what_the_operations_port_shows(
    isolation: Isolation, tmp_path: Path
) -> None:
    process = ServiceProcess(
        "query", env=isolation.env(), port=free_port(), log_path=tmp_path / "query.log"
    )
    with process:
        async with httpx.AsyncClient(timeout=10) as client:
            api = {path: await client.get(f"{process.url}{path}") for path in OPERATIONS_ONLY}
            ops = {path: await client.get(f"{process.ops_url}{path}") for path in OPERATIONS_ONLY}
            liveness = [await client.get(f"{url}/health") for url in (process.url, process.ops_url)]

    for path, response in api.items():
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    for path, response in ops.items():
        assert response.status_code == 200, f"{path}: {response.text[:300]}"
    assert ops["/health/ready"].json()["data"]["dependencies"]["mongodb"] == "ok"
    assert "cpu_percent" in ops["/health/detailed"].json()["data"]["system"]
    assert "docflow_http_requests_total" in ops["/metrics"].text
    assert [response.json()["data"]["status"] for response in liveness] == ["ok", "ok"]
    assert all(response.headers["x-request-id"] for response in liveness)
