"""`GET /v1/stats`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from docflow.common.envelope import APIResponse, error_responses
from docflow.common.identity import TenantDep
from docflow.query.cache.responses import NOT_MODIFIED, cached_response
from docflow.query.deps import CacheDep, PolicyDep, StatsDep
from docflow.query.documents.router import IfNoneMatch
from docflow.query.routing import QueryRoute
from docflow.query.stats import service
from docflow.query.stats.schemas import Stats

router = APIRouter(prefix="/v1", tags=["stats"], route_class=QueryRoute)


@router.get(
    "/stats",
    response_model=APIResponse[Stats],
    responses=NOT_MODIFIED | error_responses(429, 503),
)
async def get_stats(
    cache: CacheDep,
    stats: StatsDep,
    policy: PolicyDep,
    tenant: TenantDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """How many of the caller's documents there are by status, sentiment and language."""
    entry = await service.get_stats(cache=cache, repository=stats, policy=policy, tenant=tenant)
    return cached_response(entry, if_none_match=if_none_match)
