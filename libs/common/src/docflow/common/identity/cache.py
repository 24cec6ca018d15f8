"""A small bounded map with expiry, for verification results held in process.

Insertion order is eviction order (a plain dict keeps it): entries live seconds, so the oldest
insertion is as good a victim as the least recently used, and a hit costs one dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

ValueT = TypeVar("ValueT")


@dataclass(frozen=True, slots=True)
class Entry(Generic[ValueT]):
    value: ValueT
    expires_at: float


class BoundedTTLCache(Generic[ValueT]):
    def __init__(self, *, max_size: int, ttl_s: float) -> None:
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._entries: dict[str, Entry[ValueT]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, key: str) -> Entry[ValueT] | None:
        """The entry, expired or not (the caller decides what an expired one is worth)."""
        return self._entries.get(key)

    def fresh(self, key: str, now: float) -> Entry[ValueT] | None:
        entry = self._entries.get(key)
        return entry if entry is not None and entry.expires_at > now else None

    def put(self, key: str, value: ValueT, now: float, *, ttl_s: float | None = None) -> None:
        """Cache `value` for the cache's TTL, or `ttl_s` (what the value itself allows)."""
        entries = self._entries
        entries.pop(key, None)  # re-inserted at the end: evicted last
        if len(entries) >= self.max_size:
            del entries[next(iter(entries))]
        entries[key] = Entry(value, now + (self.ttl_s if ttl_s is None else ttl_s))

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)
