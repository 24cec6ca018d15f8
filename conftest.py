"""Fixtures shared by every test package: a private slice of the real infrastructure per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.testing import Isolation, new_isolation
from docflow.testing.isolation import TopicSweeper
from docflow.testing.plans import CommandLog

MONGODB_URI = "mongodb://127.0.0.1:27017"


@pytest.fixture
def isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Isolation]:
    """Point settings loaded in this test at a unique topic suffix, database and key prefix;
    the topics are deleted afterwards."""
    slice_ = new_isolation()
    for name, value in slice_.env().items():
        monkeypatch.setenv(name, value)
    yield slice_
    topic_sweeper().drop(slice_)


_sweepers: list[TopicSweeper] = []


def topic_sweeper() -> TopicSweeper:
    if not _sweepers:
        _sweepers.append(TopicSweeper())
    return _sweepers[0]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for sweeper in _sweepers:
        sweeper.close()


@pytest.fixture
async def mongo_client() -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        MONGODB_URI, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    yield client
    await client.close()


@pytest.fixture
async def test_db(
    isolation: Isolation, mongo_client: AsyncMongoClient[dict[str, object]]
) -> AsyncIterator[object]:
    """The test's own database, dropped afterwards."""
    yield mongo_client[isolation.database]
    await mongo_client.drop_database(isolation.database)


@pytest.fixture
async def command_log(
    isolation: Isolation,
) -> AsyncIterator[tuple[AsyncMongoClient[Any], CommandLog]]:
    """A client whose commands are recorded, for checking their plans; the test's database is
    dropped afterwards."""
    log = CommandLog()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        MONGODB_URI, tz_aware=True, serverSelectionTimeoutMS=5000, event_listeners=[log]
    )
    yield client, log
    await client.drop_database(isolation.database)
    await client.close()
