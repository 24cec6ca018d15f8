"""The development key that `make run` hands a newcomer, so the README's curl lines just work.

In development only (`APP_ENV=development`, the default): the key for tenant `default` kept in
`.cache/dev-api-key` (mode 0600) is reused while it is valid, or a new one is made and written
there; either way it is printed where `make run`'s output shows it. Any other APP_ENV refuses.
The process then waits for honcho's signal (also after refusing), as honcho stops everything
when one process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from docflow.common.identity.keys import DEFAULT_TENANT, hash_key, hash_matches, key_id_of
from docflow.common.identity.repository import ApiKeyRepository
from docflow.common.settings import CommonSettings

DEV_KEY_NAME = "development (make run)"


def default_path() -> Path:
    return Path(os.environ.get("DOCFLOW_CACHE", ".cache")) / "dev-api-key"


async def ensure_development_key(keys: ApiKeyRepository, path: Path) -> tuple[str, bool]:
    """The key in `path` if the store still accepts it, else a new one written there.
    Returns the key and whether it was created now."""
    existing = _read_key(path)
    key_id = key_id_of(existing)
    if key_id is not None:
        stored = await keys.find(key_id)
        if (
            stored is not None
            and not stored.revoked
            and hash_matches(hash_key(existing), stored.key_hash)
        ):
            return existing, False
    new, _ = await keys.create_key(tenant=DEFAULT_TENANT, name=DEV_KEY_NAME)
    _write_key(path, new.key)
    return new.key, True


# A few bytes of a local file, once at startup: not worth a thread.
def _read_key(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _write_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC


async def serve_development_key(
    keys: ApiKeyRepository, *, settings: CommonSettings, path: str | None, wait: bool
) -> int:
    if not settings.is_development:
        print(f"no development key: APP_ENV is {settings.app_env.value}", file=sys.stderr)
        if wait:  # under honcho, ending would stop every other process
            await _until_signalled()
        return 1
    key_path = Path(path) if path else default_path()
    key, created = await ensure_development_key(keys, key_path)
    banner = "=" * 78
    print(
        f"{banner}\n"
        f"  Development API key for tenant {DEFAULT_TENANT!r} ({'new' if created else 'reused'}),"
        f" kept in {key_path}:\n\n    {key}\n\n"
        f'  curl -H "Authorization: Bearer $(cat {key_path})" http://127.0.0.1:8002/v1/stats\n'
        f"{banner}",
        flush=True,
    )
    if wait:
        await _until_signalled()
    return 0


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
