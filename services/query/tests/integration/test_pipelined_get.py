"""PipelinedGet against a real Redis: values, ordering, one connection, AUTH and SELECT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from docflow.query.cache.pipelined_get import PipelinedGet
from docflow.testing import Isolation, OwnServer
from services.query.tests.integration.conftest import REDIS_PASSWORD

pytestmark = pytest.mark.integration

SHARED_REDIS = "redis://127.0.0.1:6379/0"
TIMEOUT_S = 2.0
KEEP_S = 60  # test keys expire by themselves


def pipelined_get(url: str) -> PipelinedGet:
    return PipelinedGet(url, connect_timeout_s=TIMEOUT_S, timeout_s=TIMEOUT_S)


@pytest.fixture
async def shared_redis() -> AsyncIterator[Redis]:
    redis = Redis.from_url(SHARED_REDIS)
    yield redis
    await redis.aclose()


@pytest.fixture
async def fast_get() -> AsyncIterator[PipelinedGet]:
    client = pipelined_get(SHARED_REDIS)
    yield client
    client.close()


async def get_once(url: str, key: str) -> bytes | None:
    """One GET through a client of its own, closed afterwards."""
    client = pipelined_get(url)
    try:
        return await client.get(key)
    finally:
        client.close()


def admin_of(server: OwnServer, *, password: str | None = None, db: int = 0) -> Redis:
    return Redis(host="127.0.0.1", port=server.port, password=password, db=db)


async def test_get_returns_the_stored_bytes_and_none_for_a_missing_key(
    isolation: Isolation, shared_redis: Redis, fast_get: PipelinedGet
) -> None:
    values = {
        f"{isolation.redis_prefix}:plain": b'{"id":"abc"}',
        f"{isolation.redis_prefix}:empty": b"",
        # Bytes that look like the protocol itself, and a value hiredis receives in many pieces.
        f"{isolation.redis_prefix}:protocol-like": b"$3\r\nGET\r\n*2\r\n-ERR\r\n\x00\xff",
        f"{isolation.redis_prefix}:large": bytes(range(256)) * 4096,
        f"{isolation.redis_prefix}:clé-ünïcode": "données".encode(),
    }
    for key, value in values.items():
        await shared_redis.set(key, value, ex=KEEP_S)

    found = {key: await fast_get.get(key) for key in values}
    missing = await fast_get.get(f"{isolation.redis_prefix}:missing")

    assert found == values
    assert missing is None


async def test_concurrent_gets_share_one_connection_and_each_gets_its_own_value(
    private_redis: OwnServer,
) -> None:
    admin = admin_of(private_redis)
    keys = [f"key:{number}" for number in range(2000)]
    await admin.mset({key: f"value of {key}" for key in keys})
    client = pipelined_get(f"redis://127.0.0.1:{private_redis.port}/0")
    try:
        values = await asyncio.gather(*(client.get(key) for key in keys))
        clients = await admin.client_list()
    finally:
        client.close()
        await admin.aclose()

    assert values == [f"value of {key}".encode() for key in keys]
    assert len(clients) == 2  # the admin connection and the pipelined one


async def test_an_error_reply_raises_connection_error_and_the_next_get_is_served(
    isolation: Isolation, shared_redis: Redis, fast_get: PipelinedGet
) -> None:
    a_list, a_string = f"{isolation.redis_prefix}:list", f"{isolation.redis_prefix}:string"
    await shared_redis.rpush(a_list, "item")
    await shared_redis.set(a_string, "value", ex=KEEP_S)
    await shared_redis.expire(a_list, KEEP_S)

    with pytest.raises(ConnectionError, match="WRONGTYPE"):
        await fast_get.get(a_list)
    after = await fast_get.get(a_string)

    assert after == b"value"


async def test_the_url_password_and_db_number_reach_the_right_database(
    password_redis: OwnServer,
) -> None:
    for db in (0, 3):
        admin = admin_of(password_redis, password=REDIS_PASSWORD, db=db)
        await admin.set("greeting", f"from db {db}")
        await admin.aclose()
    value = await get_once(
        f"redis://:{REDIS_PASSWORD}@127.0.0.1:{password_redis.port}/3", "greeting"
    )

    assert value == b"from db 3"


async def test_an_acl_user_from_the_url_is_authenticated(password_redis: OwnServer) -> None:
    admin = admin_of(password_redis, password=REDIS_PASSWORD)
    await admin.acl_setuser(
        "reader",
        enabled=True,
        passwords=["+reader-password"],
        keys=["*"],
        commands=["+get", "+select"],
    )
    await admin.set("greeting", "hello reader")
    await admin.aclose()
    value = await get_once(
        f"redis://reader:reader-password@127.0.0.1:{password_redis.port}/0", "greeting"
    )

    assert value == b"hello reader"


@pytest.mark.parametrize(
    ("credentials", "db", "refusal"),
    [
        pytest.param(":wrong-password@", 0, "WRONGPASS", id="wrong password"),
        pytest.param(f":{REDIS_PASSWORD}@", 99, "DB index is out of range", id="no such db"),
    ],
)
async def test_a_refused_handshake_raises_connection_error_and_leaves_no_connection_open(
    password_redis: OwnServer, credentials: str, db: int, refusal: str
) -> None:
    client = pipelined_get(f"redis://{credentials}127.0.0.1:{password_redis.port}/{db}")
    admin = admin_of(password_redis, password=REDIS_PASSWORD)
    try:
        for _attempt in range(3):  # each call connects again, and fails the same way
            with pytest.raises(ConnectionError, match=refusal):
                await client.get("greeting")
        await asyncio.sleep(0.1)  # let the server notice the closed sockets
        clients = await admin.client_list()
    finally:
        client.close()
        await admin.aclose()

    assert len(clients) == 1  # only the admin's own
