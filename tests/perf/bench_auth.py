"""What authentication costs a request, measured in process in one run.

    uv run python tests/perf/bench_auth.py [--calls 200000] [--misses 200]

1. `ApiKeyVerifier.verify` on a cache hit (SHA-256 of the key and a dict lookup);
2. the whole AuthenticationMiddleware on a cache hit: an ASGI call through it to a trivial app,
   against the trivial app called alone (the baseline, measured in the same run);
3. a cache miss: one `find_one` by `_id` on the configured MongoDB (a database of its own,
   dropped afterwards), with a TTL so short that every call misses.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from pymongo import AsyncMongoClient

from docflow.common.identity.authenticator import Authenticator
from docflow.common.identity.middleware import AuthenticationMiddleware
from docflow.common.identity.repository import ApiKeyRepository
from docflow.common.identity.verifier import ApiKeyVerifier
from docflow.common.settings import CommonSettings


async def _trivial(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    return None


async def _per_call_us(call: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


async def main(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(), tz_aware=True
    )
    database = client[f"bench_auth_{uuid.uuid4().hex[:8]}"]
    try:
        keys = ApiKeyRepository(database)
        new, _ = await keys.create_key(tenant="bench")
        verifier = ApiKeyVerifier(keys.find, ttl_s=3600, negative_ttl_s=5, max_size=10_000)
        await verifier.verify(new.key)
        middleware = AuthenticationMiddleware(
            _trivial, authenticator=Authenticator(verifier), failures_per_minute=30
        )
        headers = [(b"authorization", f"Bearer {new.key}".encode()), (b"accept", b"*/*")]

        def scope() -> dict[str, Any]:
            return {
                "type": "http",
                "path": "/v1/stats",
                "headers": headers,
                "client": ("127.0.0.1", 1),
            }

        hit_us = await _per_call_us(lambda: verifier.verify(new.key), args.calls)
        bare_us = await _per_call_us(lambda: _trivial(scope(), _receive, _send), args.calls)
        through_us = await _per_call_us(lambda: middleware(scope(), _receive, _send), args.calls)

        missing = ApiKeyVerifier(keys.find, ttl_s=1e-9, negative_ttl_s=0, max_size=10)
        miss_us = await _per_call_us(lambda: missing.verify(new.key), args.misses)
        assert missing.lookups == args.misses
    finally:
        await client.drop_database(database.name)
        await client.close()

    print(f"verifier, cache hit:            {hit_us:8.2f} us per call ({args.calls:,} calls)")
    print(f"trivial ASGI app alone:         {bare_us:8.2f} us per call (baseline)")
    print(f"through the middleware, hit:    {through_us:8.2f} us per call")
    print(f"middleware overhead on a hit:   {through_us - bare_us:8.2f} us per request")
    print(f"verifier, cache miss (MongoDB): {miss_us:8.0f} us per call ({args.misses} calls)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--misses", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
