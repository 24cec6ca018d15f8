"""The query service's settings: the common ones plus cache lifetimes and read limits."""

from __future__ import annotations

from pydantic import Field

from docflow.common.settings import CommonSettings


class QuerySettings(CommonSettings):
    service_name: str = "query"
    http_port: int = Field(default=8002, ge=1, le=65535)
    ops_port: int = Field(default=9102, ge=1, le=65535)

    # With MongoDB gone, a read waits at most this long for a server before it gets a 503
    # (the common MONGODB_TIMEOUT_MS still bounds connecting and each operation).
    mongodb_server_selection_timeout_ms: int = Field(default=1000, ge=100)

    # Lifetimes of cached entries. Events keep documents fresh, so their TTL only bounds
    # memory; lists and stats also change on inserts, which send query no event, so their
    # TTL is how stale a list can be after a new document arrives.
    cache_document_ttl_s: float = Field(default=300.0, ge=0)
    cache_list_ttl_s: float = Field(default=5.0, ge=0)
    cache_stats_ttl_s: float = Field(default=10.0, ge=0)
    cache_not_found_ttl_s: float = Field(default=5.0, ge=0)
    # After its TTL an entry is kept this much longer and served stale while one request
    # recomputes it, so a hot key that expires does not send every reader to MongoDB.
    cache_stale_grace_s: float = Field(default=30.0, ge=0)
    # How long the request that recomputes an entry holds its lock; the others wait at
    # most `cache_lock_wait_s` for it before reading MongoDB themselves.
    cache_lock_timeout_s: float = Field(default=2.0, gt=0)
    cache_lock_wait_s: float = Field(default=0.5, ge=0)
    # After a Redis error the cache is bypassed this long before it is tried again.
    cache_retry_interval_s: float = Field(default=1.0, gt=0)

    list_default_limit: int = Field(default=20, ge=1, le=100)
    list_max_limit: int = Field(default=100, ge=1, le=100)

    # Its own group: every query replica shares one cache, so one of them invalidating an
    # entry is enough, and ingest's or analysis's groups never compete with it.
    query_consumer_group: str = "query-cache"
    # How long a failed invalidation is retried while Redis is unreachable (the consumer
    # waits meanwhile; events queue in Kafka). Past a document's TTL plus grace the entry has
    # expired by itself; below Kafka's 5-minute max poll interval the consumer keeps its
    # partitions.
    invalidation_retry_s: float = Field(default=240.0, gt=0)
