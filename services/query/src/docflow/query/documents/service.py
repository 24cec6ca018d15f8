"""Reading documents and pages through the cache, always within the caller's tenant."""

from __future__ import annotations

from docflow.query.cache.entries import Entry
from docflow.query.cache.readthrough import CachePolicy, read_through, uncached
from docflow.query.cache.store import Cache
from docflow.query.documents.filters import ListQuery
from docflow.query.documents.lookup import DocumentRead
from docflow.query.documents.render import render_document, render_page
from docflow.query.documents.repository import DocumentRepository


async def get_document(
    *,
    cache: Cache,
    repository: DocumentRepository,
    policy: CachePolicy,
    read: DocumentRead,
) -> Entry:
    async def load() -> bytes | None:
        stored = await repository.find(
            read.document_id, tenant=read.tenant, with_content=read.with_content
        )
        return render_document(stored) if stored is not None else None

    return await read_through(
        cache,
        key=read.cache_key(cache.keys),
        lifetime=policy.document,
        stampede=policy.stampede,
        load=load,
    )


async def list_documents(
    *,
    cache: Cache,
    repository: DocumentRepository,
    policy: CachePolicy,
    tenant: str,
    query: ListQuery,
) -> Entry:
    async def load() -> bytes:
        return render_page(await repository.find_page(query, tenant=tenant), limit=query.limit)

    if policy.listing.fresh_s <= 0:
        return await uncached(load)
    # Read before MongoDB: if an invalidation bumps the generation meanwhile, this page is
    # stored under the retired generation, where no reader looks any more.
    generation = await cache.generation(tenant)
    if generation is None:
        return await uncached(load)
    return await read_through(
        cache,
        key=cache.keys.listing(tenant, generation, query.digest()),
        lifetime=policy.listing,
        stampede=policy.stampede,
        load=load,
    )
