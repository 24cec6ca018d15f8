"""Which tenant a document is stored under: the API key's on REST, the producer's on Kafka.

REST: the key decides (docflow's contract). A body or form `tenant_id` equal to the key's is
accepted, so clients written before API keys keep working; any other value is refused with 403
`tenant_mismatch` rather than ignored: a client naming another tenant has a bug or an intent,
and storing its document under the key's tenant would hide either.

documents.incoming: upstream producers are trusted (Kafka's ACLs guard the topic), so their
`tenant_id` stands, `default` when absent. It must still be a name an API key can carry, or no
caller could ever read the document; a bad one is dead-lettered with `invalid_tenant`.
"""

from __future__ import annotations

from starlette.types import Scope

from docflow.common.identity import DEFAULT_TENANT, identity_of
from docflow.common.identity.keys import TENANT_NAME
from docflow.ingest.errors import InvalidTenant, TenantMismatch

_SHOWN_CHARS = 80  # of a bad tenant_id in an error message (a header of a dead letter)


def request_tenant(scope: Scope, claimed: str | None) -> str:
    """The caller's tenant; raises TenantMismatch when `claimed` names another one."""
    tenant = identity_of(scope).tenant
    check_claim(tenant, claimed)
    return tenant


def check_claim(tenant: str, claimed: str | None) -> None:
    if claimed is not None and claimed != tenant:
        raise TenantMismatch(details={"tenant_id": claimed[:_SHOWN_CHARS]})


def upstream_tenant(claimed: str | None) -> str:
    """The tenant an upstream message names, checked like any other field."""
    if claimed is None:
        return DEFAULT_TENANT
    if TENANT_NAME.fullmatch(claimed) is None:
        raise InvalidTenant(
            f"tenant_id {claimed[:_SHOWN_CHARS]!r} is not a tenant name: lower-case letters, "
            "digits, '_' and '-', starting with a letter or digit, at most 63 characters."
        )
    return claimed
