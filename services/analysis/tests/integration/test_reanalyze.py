"""`docflow-reanalyze` on the real stack with the fake OpenAI server: a re-queued document is
analyzed again only when its prompt version or model changed (or --force), never twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docflow.analysis.analyses.reanalyze import Criteria, requeue
from docflow.analysis.settings import AnalysisSettings
from docflow.common.documents import DOCUMENTS, DocumentStatus
from docflow.testing import Isolation
from services.analysis.tests.integration.conftest import (
    FakeOpenAIServer,
    Insert,
    Publish,
    Until,
    running_app,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Mongo = AsyncMongoClient[dict[str, Any]]


async def test_only_what_changed_is_analyzed_again(
    fake_openai: Callable[..., FakeOpenAIServer],
    use_fake: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    consumer_group: str,
    isolation: Isolation,
    mongo_client: Mongo,
    test_db: object,
    insert_documents: Insert,
    publish_ingested: Publish,
    until: Until,
) -> None:
    server = fake_openai()
    use_fake(server)
    documents = test_db[DOCUMENTS]  # type: ignore[index]
    (alone,) = await insert_documents(["A memo about the new office in Lyon."])
    first, second = await insert_documents(
        ["Acme's revenue grew by a third.", "Acme's customers praised the support team."],
        tenant_id="acme",
    )

    async def analyzed_total() -> int:
        return int((await server.stats())["documents_total"])

    async def analysis_of(document: dict[str, Any]) -> dict[str, Any]:
        stored = await documents.find_one({"_id": document["_id"]})
        return dict(stored["analysis"] or {}) if stored else {}

    async def again(criteria: Criteria, *, force: bool = False) -> list[str]:
        chosen = await requeue(
            AnalysisSettings(), criteria=criteria, force=force, dry_run=False, limit=100
        )
        return [str(document["_id"]) for document in chosen.requeue]

    async with running_app():
        await publish_ingested([alone, first, second])
        assert await until(lambda: _count_analyzed(documents, 3), timeout_s=60)
        assert await analyzed_total() == 3
        before = await analysis_of(alone)

        assert await again(Criteria(ids=(alone["_id"],))) == [], "up to date: skipped"
        assert await again(Criteria(ids=(alone["_id"],)), force=True) == [alone["_id"]]

        async def alone_redone() -> bool:
            return bool((await analysis_of(alone))["analyzed_at"] != before["analyzed_at"])

        assert await until(alone_redone, timeout_s=60)
        assert await analyzed_total() == 4

    monkeypatch.setenv("PROMPT_VERSION", "v2")
    async with running_app():
        stale = Criteria(tenant="acme", prompt_version_not="current")
        assert sorted(await again(stale)) == sorted([first["_id"], second["_id"]])

        async def acme_on_v2() -> bool:
            return bool(await documents.count_documents({"analysis.prompt_version": "v2"}) == 2)

        assert await until(acme_on_v2, timeout_s=60)
        assert await analyzed_total() == 6
        assert await again(stale) == [], "nothing left on another version"
        assert (await analysis_of(alone))["prompt_version"] == "v1", "other tenants untouched"

        (broken,) = await insert_documents(["A report the model once failed on."])
        await documents.update_one(
            {"_id": broken["_id"]},
            {"$set": {"status": "failed", "error": {"code": "analysis_failed", "message": "x"}}},
        )
        assert await again(Criteria(status=DocumentStatus.FAILED)) == [broken["_id"]]
        assert await until(lambda: _count_analyzed(documents, 4), timeout_s=60)
        assert await analyzed_total() == 7

    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1-mini")
    async with running_app():
        assert await again(Criteria(ids=(first["_id"],), model_not="current")) == [first["_id"]]

        async def first_on_new_model() -> bool:
            return bool((await analysis_of(first)).get("model") == "gpt-4.1-mini")

        assert await until(first_on_new_model, timeout_s=60)
        assert await analyzed_total() == 8
        # A redelivery of a re-queued document's event costs nothing.
        await publish_ingested([first])
        assert not await until(lambda: _more_than(server, 8), timeout_s=5)


async def _count_analyzed(documents: Any, count: int) -> bool:
    return bool(await documents.count_documents({"status": "analyzed"}) == count)


async def _more_than(server: FakeOpenAIServer, count: int) -> bool:
    return int((await server.stats())["documents_total"]) > count


def test_the_command_refuses_to_requeue_everything_by_accident() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "docflow.analysis.analyses.reanalyze"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "choose documents" in done.stderr
