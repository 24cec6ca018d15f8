"""Counting documents by status, sentiment and language, through the cache."""

from __future__ import annotations

from collections import Counter
from typing import Any, get_args

import orjson

from docflow.common.documents import DocumentStatus, SentimentLabel
from docflow.query.cache import Cache, Entry
from docflow.query.readthrough import CachePolicy, read_through, uncached
from docflow.query.stats.repository import StatsRepository


def summarize(rows: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    by_status: Counter[str] = Counter({status.value: 0 for status in DocumentStatus})
    by_sentiment: Counter[str] = Counter(dict.fromkeys(get_args(SentimentLabel), 0))
    by_language: Counter[str] = Counter()
    total = 0
    for facets, count in rows:
        total += count
        if isinstance(status := facets.get("status"), str):
            by_status[status] += count
        if isinstance(sentiment := facets.get("sentiment"), str):
            by_sentiment[sentiment] += count
        if isinstance(language := facets.get("language"), str):
            by_language[language] += count
    return {
        "total": total,
        "by_status": dict(by_status),
        "by_sentiment": dict(by_sentiment),
        "by_language": dict(by_language.most_common()),
    }


async def get_stats(*, cache: Cache, repository: StatsRepository, policy: CachePolicy) -> Entry:
    async def load() -> bytes:
        return orjson.dumps(summarize(await repository.facet_counts()))

    if policy.stats.fresh_s <= 0:
        return await uncached(load)
    generation = await cache.generation()  # before MongoDB, as for lists
    if generation is None:
        return await uncached(load)
    return await read_through(
        cache,
        key=cache.keys.stats(generation),
        lifetime=policy.stats,
        stampede=policy.stampede,
        load=load,
    )
