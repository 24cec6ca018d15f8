"""The store answers as MongoDB does, whatever it pushes down to its indexes.

These run against the real FerretDB that `deploy/local/infra.sh` starts, built with docflow's
patch (deploy/local/ferretdb/): `_id` and indexed fields are answered from SQLite indexes,
sorts come in index order, counts and distinct values come from SQL. Every assertion here is
MongoDB's behaviour, so the same tests pass against a real MongoDB; on FerretDB they also
check, through `explain`, that the hot query shapes really use an index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]
DAY = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
async def docs(test_db: AsyncDatabase[Doc]) -> AsyncCollection[Doc]:
    collection = test_db["documents"]
    await collection.create_indexes(
        [
            IndexModel([("tenant_id", ASCENDING), ("content_hash", ASCENDING)], unique=True),
            IndexModel([("status", ASCENDING), *NEWEST_FIRST]),
            IndexModel([("analysis.language", ASCENDING), *NEWEST_FIRST]),
            IndexModel([("analysis.keywords", ASCENDING), *NEWEST_FIRST]),
            IndexModel(NEWEST_FIRST),
            IndexModel([("kind", ASCENDING)]),
        ]
    )
    await collection.insert_many(
        [
            {
                "_id": f"d{i}",
                "tenant_id": "t1" if i % 2 else "t2",
                "content_hash": f"h{i}",
                "status": "analyzed" if i % 3 else "queued",
                "created_at": DAY + timedelta(minutes=i),
                "analysis": {"language": "en" if i % 4 else "de", "keywords": [f"k{i % 5}", "all"]},
            }
            for i in range(30)
        ]
    )
    return collection


async def is_ferretdb(collection: AsyncCollection[Doc]) -> bool:
    info = await collection.database.client.admin.command("buildInfo")
    return "ferretdbVersion" in info


async def plan(collection: AsyncCollection[Doc], cursor_explain: Doc) -> str:
    """FerretDB's SQLite plan as one string ("" on MongoDB, whose plans have another shape)."""
    if not await is_ferretdb(collection):
        return ""
    return " | ".join(cursor_explain.get("queryPlanner", {}).get("Plan", []))


async def test_id_of_another_tenant_is_not_found(docs: AsyncCollection[Doc]) -> None:
    assert await docs.find_one({"_id": "d1", "tenant_id": "t2"}) is None
    found = await docs.find_one({"_id": "d1", "tenant_id": "t1"})
    assert found is not None
    assert found["content_hash"] == "h1"
    explained = await docs.find({"_id": "d1", "tenant_id": "t1"}).explain()
    if await is_ferretdb(docs):
        assert "USING INDEX" in await plan(docs, explained)


async def test_id_in_finds_each_once(docs: AsyncCollection[Doc]) -> None:
    found = [d["_id"] async for d in docs.find({"_id": {"$in": ["d3", "d4", "missing", "d3"]}})]
    assert sorted(found) == ["d3", "d4"]
    explained = await docs.find({"_id": {"$in": ["d3", "d4"]}}).explain()
    if await is_ferretdb(docs):
        assert "USING INDEX" in await plan(docs, explained)


async def test_update_guarded_by_ne_changes_only_what_it_may(docs: AsyncCollection[Doc]) -> None:
    guard = {"status": {"$ne": "analyzed"}}
    analyzed = await docs.update_one({"_id": "d1", **guard}, {"$set": {"status": "failed"}})
    queued = await docs.update_one({"_id": "d3", **guard}, {"$set": {"status": "failed"}})
    assert (analyzed.matched_count, queued.modified_count) == (0, 1)
    statuses = {d["_id"]: d["status"] async for d in docs.find({"_id": {"$in": ["d1", "d3"]}})}
    assert statuses == {"d1": "analyzed", "d3": "failed"}


async def test_upserts_insert_once_then_update(docs: AsyncCollection[Doc]) -> None:
    first = await docs.update_one({"_id": "new"}, {"$set": {"n": 1}}, upsert=True)
    second = await docs.update_one({"_id": "new"}, {"$set": {"n": 2}}, upsert=True)
    replaced = await docs.replace_one({"_id": "new"}, {"n": 3}, upsert=True)
    assert first.upserted_id == "new"
    assert second.upserted_id is None
    assert replaced.modified_count == 1
    assert await docs.count_documents({"_id": "new"}) == 1
    assert (await docs.find_one({"_id": "new"}) or {}).get("n") == 3


async def test_duplicate_keys_are_refused(docs: AsyncCollection[Doc]) -> None:
    with pytest.raises(DuplicateKeyError):
        await docs.insert_one({"_id": "d1"})
    with pytest.raises(DuplicateKeyError):
        await docs.insert_one({"_id": "other", "tenant_id": "t1", "content_hash": "h1"})
    with pytest.raises(BulkWriteError) as caught:
        await docs.insert_many(
            [
                {"_id": "x1", "tenant_id": "t1", "content_hash": "fresh"},
                {"_id": "x2", "tenant_id": "t1", "content_hash": "fresh"},
            ],
            ordered=False,
        )
    assert [e["index"] for e in caught.value.details["writeErrors"]] == [1]
    # the same hash under another tenant is not a duplicate
    await docs.insert_one({"_id": "x3", "tenant_id": "t3", "content_hash": "h1"})


async def test_newest_first_page_comes_from_the_index(docs: AsyncCollection[Doc]) -> None:
    cursor = docs.find({"status": "analyzed"}).sort(NEWEST_FIRST).limit(3)
    assert [d["_id"] async for d in cursor] == ["d29", "d28", "d26"]
    explained = await docs.find({"status": "analyzed"}).sort(NEWEST_FIRST).limit(3).explain()
    if await is_ferretdb(docs):
        described = await plan(docs, explained)
        assert "USING INDEX" in described
        assert "TEMP B-TREE" not in described


async def test_next_page_seeks_from_the_cursor(docs: AsyncCollection[Doc]) -> None:
    last_time = DAY + timedelta(minutes=26)
    query = {
        "status": "analyzed",
        "created_at": {"$lte": last_time},
        "$or": [{"created_at": {"$lt": last_time}}, {"_id": {"$lt": "d26"}}],
    }
    page = [d["_id"] async for d in docs.find(query).sort(NEWEST_FIRST).limit(3)]
    assert page == ["d25", "d23", "d22"]


async def test_filters_the_index_cannot_answer_still_apply(docs: AsyncCollection[Doc]) -> None:
    query = {"status": "analyzed", "analysis.keywords": "k1", "tenant_id": "t1"}
    page = [d["_id"] async for d in docs.find(query).sort(NEWEST_FIRST).limit(2)]
    assert page == ["d11", "d1"]
    spellings = {"analysis.keywords": {"$in": ["K2", "k2"]}, "content_hash": {"$ne": "h2"}}
    assert [d["_id"] async for d in docs.find(spellings).sort(NEWEST_FIRST)] == [
        "d27",
        "d22",
        "d17",
        "d12",
        "d7",
    ]


async def test_mixed_types_compare_and_sort_as_mongodb_does(docs: AsyncCollection[Doc]) -> None:
    oid = ObjectId()
    await docs.insert_many(
        [
            {"_id": "m1", "kind": "1"},
            {"_id": "m2", "kind": 1},
            {"_id": "m3", "kind": ["1", "2"]},
            {"_id": "m4", "kind": str(oid)},
            {"_id": "m5", "kind": oid},
            {"_id": "m6", "kind": None},
            {"_id": "m7", "kind": DAY},
        ]
    )
    assert sorted([d["_id"] async for d in docs.find({"kind": "1"})]) == ["m1", "m3"]
    assert [d["_id"] async for d in docs.find({"kind": oid})] == ["m5"]
    assert [d["_id"] async for d in docs.find({"kind": str(oid)})] == ["m4"]
    assert [d["_id"] async for d in docs.find({"kind": DAY})] == ["m7"]
    assert await docs.count_documents({"kind": {"$in": ["1", "2"]}}) == 2
    assert await docs.count_documents({"kind": {"$gte": DAY}}) == 1
    # null < numbers < strings < ObjectId < dates; an array sorts by its least element ascending
    ordered = docs.find({"_id": {"$in": ["m1", "m2", "m5", "m6", "m7"]}}).sort("kind", ASCENDING)
    assert [d["_id"] async for d in ordered] == ["m6", "m2", "m1", "m5", "m7"]


async def test_an_array_arriving_later_is_still_found(docs: AsyncCollection[Doc]) -> None:
    assert await docs.count_documents({"status": "archived"}) == 0
    await docs.insert_one({"_id": "late", "status": ["archived", "queued"]})
    assert [d["_id"] async for d in docs.find({"status": "archived"})] == ["late"]
    assert await docs.count_documents({"status": "archived"}) == 1
    assert await docs.count_documents({"status": "queued"}) == 11


async def test_counts_and_distinct_values(docs: AsyncCollection[Doc]) -> None:
    database = docs.database
    counted = await database.command({"count": "documents", "query": {"status": "analyzed"}})
    assert counted["n"] == 20
    assert (await database.command({"count": "documents", "query": {}}))["n"] == 30
    with pymongo.timeout(10):  # drivers send maxTimeMS with a timeout, as docflow's client does
        languages = await docs.distinct("analysis.language", {"status": "analyzed"})
    assert languages == ["de", "en"]
    assert await docs.distinct("tenant_id") == ["t1", "t2"]
    by_language = {"status": "analyzed", "analysis.language": "de"}
    assert (await database.command({"count": "documents", "query": by_language}))["n"] == 5
