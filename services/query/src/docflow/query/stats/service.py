"""Counting documents by status, sentiment and language, through the cache."""

from __future__ import annotations

from typing import Any, get_args

import orjson

from docflow.common.documents import DocumentStatus, SentimentLabel
from docflow.query.cache.entries import Entry
from docflow.query.cache.readthrough import CachePolicy, read_through, uncached
from docflow.query.cache.store import Cache
from docflow.query.stats.repository import Counts, StatsRepository


def summarize(counts: Counts) -> dict[str, Any]:
    """The served shape: every status and label (zero included), languages most frequent first."""
    languages = sorted(counts.by_language.items(), key=lambda item: (-item[1], item[0]))
    return {
        "total": counts.total,
        "by_status": {
            status.value: counts.by_status.get(status.value, 0) for status in DocumentStatus
        },
        "by_sentiment": {
            label: counts.by_sentiment.get(label, 0) for label in get_args(SentimentLabel)
        },
        "by_language": {language: count for language, count in languages if count},
    }


async def get_stats(
    *, cache: Cache, repository: StatsRepository, policy: CachePolicy, tenant: str
) -> Entry:
    async def load() -> bytes:
        return orjson.dumps(summarize(await repository.counts(tenant=tenant)))

    if policy.stats.fresh_s <= 0:
        return await uncached(load)
    generation = await cache.generation(tenant)  # before MongoDB, as for lists
    if generation is None:
        return await uncached(load)
    return await read_through(
        cache,
        key=cache.keys.stats(tenant, generation),
        lifetime=policy.stats,
        stampede=policy.stampede,
        load=load,
    )
