"""Who is calling, for FastAPI endpoints (`IdentityDep`, `TenantDep`) and for ASGI code
(`identity_of`). The identity was put in the request scope by AuthenticationMiddleware."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope

from docflow.common.errors import DocflowError
from docflow.common.identity.keys import Identity
from docflow.common.identity.middleware import CHALLENGE, IDENTITY_STATE


class Unauthorized(DocflowError):
    status_code, code = 401, "unauthorized"
    default_message = "An API key is required: send the header 'Authorization: Bearer <key>'."


def identity_of(scope: Scope) -> Identity:
    """The caller of this request. Raises 401 where no identity was established (a route
    outside `/v1` asking for one), so a wiring mistake fails closed, never as another tenant."""
    state = scope.get("state")
    identity = state.get(IDENTITY_STATE) if state is not None else None
    if not isinstance(identity, Identity):
        raise Unauthorized(headers=CHALLENGE)
    return identity


# `async def` although they never wait: FastAPI runs a plain `def` dependency in its threadpool,
# two thread hops per request, and under a burst dozens of threads (each with a malloc arena).
async def current_identity(request: Request) -> Identity:
    return identity_of(request.scope)


IdentityDep = Annotated[Identity, Depends(current_identity)]


async def current_tenant(identity: IdentityDep) -> str:
    return identity.tenant


TenantDep = Annotated[str, Depends(current_tenant)]
