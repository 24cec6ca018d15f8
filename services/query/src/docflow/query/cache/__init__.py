"""The query service's Redis cache of rendered responses.

- `entries`: what is stored under a key (`Entry`: a fixed header, then the data bytes).
- `store`: the `Cache` itself (circuit breaker, lease-checked fills, invalidation), the key
  layout (`CacheKeys`) and the cache metrics.
- `readthrough`: cache-aside with soft expiry and stampede protection (`read_through`,
  `CachePolicy`), shared by documents, lists and stats.
- `pipelined_get`: `PipelinedGet`, the hit path's GET over one pipelined connection.
- `responses`: cached entries into HTTP responses (envelope splicing, ETag and 304).
"""
