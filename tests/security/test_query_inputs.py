"""Query parameters at the edges of their types are the client's error (4xx), never a 500."""

from __future__ import annotations

import httpx
import pytest

from docflow.testing import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "0001-01-01T00:00:00+23:59"},
        {"created_before": "9999-12-31T23:59:59-23:59"},
    ],
)
async def test_a_time_outside_the_representable_range_is_an_invalid_filter(
    query_service: ServiceProcess, client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(f"{query_service.url}/v1/documents", params=params)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_filter"
    assert error["details"] == {"field": next(iter(params))}
