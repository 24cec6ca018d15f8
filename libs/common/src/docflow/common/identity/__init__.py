"""Who is calling: API keys (and optionally OIDC tokens) mapped to a tenant.

`create_service_app` installs AuthenticationMiddleware on every `/v1` path; endpoints read the
caller with `IdentityDep`/`TenantDep`, ASGI code with `identity_of(scope)`. Keys are made with
`make api-key TENANT=<name>` (the `docflow-api-key` console script, identity/cli.py).
"""

from docflow.common.identity.deps import (
    IdentityDep,
    TenantDep,
    Unauthorized,
    current_identity,
    identity_of,
)
from docflow.common.identity.keys import DEFAULT_TENANT, Identity, InvalidTenant, check_tenant

__all__ = [
    "DEFAULT_TENANT",
    "Identity",
    "IdentityDep",
    "InvalidTenant",
    "TenantDep",
    "Unauthorized",
    "check_tenant",
    "current_identity",
    "identity_of",
]
