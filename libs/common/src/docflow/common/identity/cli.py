"""`docflow-api-key`: create, list and revoke API keys in the configured MongoDB.

    docflow-api-key create --tenant acme [--name "billing export"]   # the key is the last line
    docflow-api-key list [--tenant acme]
    docflow-api-key revoke <key id>
    docflow-api-key dev                  # development only: the key `make run` hands newcomers

Settings are read as the services read them (`.env`, then the environment). `make api-key`,
`make api-keys` and `make revoke-api-key` call it through deploy/local/with-mongo.sh, which
starts the local FerretDB for the duration when it is the configured store and is not running.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from pymongo.errors import PyMongoError

from docflow.common.clients import create_mongo_client, mongo_database
from docflow.common.identity.devkey import serve_development_key
from docflow.common.identity.keys import KEY_ID, InvalidTenant
from docflow.common.identity.repository import ApiKeyRepository
from docflow.common.settings import CommonSettings, load_settings

_TIMEOUT_MS = 5000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docflow-api-key", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key (and its tenant, if new)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="", help="a label to recognise the key by")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    dev = commands.add_parser("dev", help="development only: ensure and print the dev key")
    dev.add_argument("--file", default=None, help="where to keep it (.cache/dev-api-key)")
    dev.add_argument("--once", action="store_true", help="exit instead of waiting for a signal")
    return parser


async def _create(keys: ApiKeyRepository, *, tenant: str, name: str) -> int:
    new, stored = await keys.create_key(tenant=tenant, name=name)
    print(f"created API key {stored.key_id} for tenant {stored.tenant!r}", file=sys.stderr)
    print("the key is shown only now; only its hash is stored:", file=sys.stderr)
    print(new.key)
    return 0


async def _list(keys: ApiKeyRepository, *, tenant: str | None) -> int:
    rows = [key.public() for key in await keys.list_keys(tenant=tenant)]
    print(f"{'KEY ID':<17} {'TENANT':<20} {'CREATED':<26} {'REVOKED':<26} NAME")
    for row in rows:
        revoked = row["revoked_at"] or "-"
        print(
            f"{row['key_id']:<17} {row['tenant']:<20} {row['created_at']:<26} "
            f"{revoked:<26} {row['name']}"
        )
    return 0


async def _revoke(keys: ApiKeyRepository, *, key_id: str) -> int:
    if KEY_ID.fullmatch(key_id) is None or not await keys.revoke(key_id):
        print(f"no active key with id {key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {key_id}; services stop accepting it within AUTH_CACHE_TTL_S")
    return 0


async def run(args: argparse.Namespace, settings: CommonSettings) -> int:
    client: Any = create_mongo_client(settings, server_selection_timeout_ms=_TIMEOUT_MS)
    keys = ApiKeyRepository(mongo_database(client, settings))
    try:
        if args.command == "create":
            return await _create(keys, tenant=args.tenant, name=args.name)
        if args.command == "list":
            return await _list(keys, tenant=args.tenant)
        if args.command == "revoke":
            return await _revoke(keys, key_id=args.key_id)
        return await serve_development_key(
            keys, settings=settings, path=args.file, wait=not args.once
        )
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = load_settings(CommonSettings)
    try:
        code = asyncio.run(run(args, settings))
    except InvalidTenant as exc:
        sys.exit(f"docflow-api-key: {exc}")
    except PyMongoError as exc:
        sys.exit(f"docflow-api-key: MongoDB ({settings.mongodb_database}) failed: {exc}")
    sys.exit(code)


if __name__ == "__main__":
    main()
