"""The OpenAI provider against the fake OpenAI-compatible server (a real HTTP server)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from docflow.analysis.providers.base import DocumentInput
from docflow.analysis.providers.openai.provider import OpenAIProvider, create_client
from docflow.analysis.providers.openai.ratelimit import RateLimiter
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings, LLMProvider

from .conftest import FakeOpenAIServer

pytestmark = pytest.mark.integration

Start = Callable[..., FakeOpenAIServer]


def _settings(server: FakeOpenAIServer, **overrides: Any) -> AnalysisSettings:
    values: dict[str, Any] = {
        "llm_provider": LLMProvider.OPENAI,
        "openai_api_key": "test-key",
        "openai_base_url": server.base_url,
        "retry_base_delay_s": 0.05,
        "retry_max_delay_s": 0.2,
        "max_documents_per_request": 8,
        **overrides,
    }
    return AnalysisSettings(**values)


@pytest.fixture
async def make_provider() -> AsyncIterator[Callable[..., OpenAIProvider]]:
    created: list[OpenAIProvider] = []

    def make(settings: AnalysisSettings) -> OpenAIProvider:
        provider = OpenAIProvider(
            settings=settings,
            client=create_client(settings),
            limiter=RateLimiter(rpm=settings.rate_limit_rpm, tpm=settings.rate_limit_tpm),
            estimator=TokenEstimator(),
        )
        created.append(provider)
        return provider

    yield make
    for provider in created:
        await provider.aclose()


def _documents(texts: list[str]) -> list[DocumentInput]:
    return [DocumentInput(document_id=f"d{i}", tenant_id="t", text=t) for i, t in enumerate(texts)]


SHORT = [f"Acme reported strong revenue growth in quarter {i}." for i in range(40)]


async def test_documents_are_packed_several_per_request(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai()
    provider = make_provider(_settings(server))

    outcome = await provider.analyze(_documents(SHORT[:20]))

    assert len(outcome.analyzed) == 20
    assert not outcome.failed
    stats = await server.stats()
    assert stats["requests_total"] == 3  # 8 + 8 + 4
    assert max(stats["documents_per_request"]) == 8
    usage = [a.usage for a in outcome.analyzed.values()]
    assert sum(u.prompt_tokens for u in usage) == stats["prompt_tokens_total"]
    assert sum(u.completion_tokens for u in usage) == stats["completion_tokens_total"]


async def test_poison_result_fails_alone_after_its_retries(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai()
    provider = make_provider(_settings(server, retry_attempts=3))
    texts = [*SHORT[:5], "This document is [[poison]] for the model."]

    outcome = await provider.analyze(_documents(texts))

    assert set(outcome.analyzed) == {f"d{i}" for i in range(5)}
    assert set(outcome.failed) == {"d5"}
    assert "sentiment" in outcome.failed["d5"]
    # One packed request, then the poison document alone for its two remaining attempts.
    assert (await server.stats())["documents_per_request"] == [6, 1, 1]


async def test_server_error_document_fails_alone_and_its_request_mates_succeed(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai()
    provider = make_provider(_settings(server, retry_attempts=2))
    texts = [*SHORT[:3], "This one breaks the server [[fail500]]."]

    outcome = await provider.analyze(_documents(texts))

    assert set(outcome.analyzed) == {"d0", "d1", "d2"}
    assert outcome.failed["d3"] == "provider answered 500"


async def test_an_outage_holds_the_documents_instead_of_failing_them(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai("--fail-rate", "1.0")  # every request, the probe included, is a 500
    provider = make_provider(_settings(server, retry_attempts=2, retry_max_delay_s=0.1))

    outcome = await provider.analyze(_documents(SHORT[:3]))

    assert not outcome.failed
    assert outcome.quota_blocked == {"d0", "d1", "d2"}
    assert outcome.blocked_reason == "provider unavailable: provider answered 500"


async def test_rate_limited_requests_wait_and_nothing_is_lost(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai("--rpm", "30")
    # Our limiter believes in 600 RPM, and another client of the same key has just used the
    # whole minute: the server's 429s and headers must correct it. (Without that client the
    # headers alone may slow us down in time, and whether any 429 comes depends on timing.)
    await server.spend_requests(30)
    provider = make_provider(
        _settings(server, rate_limit_rpm=600, max_documents_per_request=1, retry_attempts=1)
    )
    started = time.monotonic()

    outcome = await provider.analyze(_documents(SHORT[:4]))

    assert len(outcome.analyzed) == 4
    assert not outcome.failed  # a 429 never spends one of the documents' attempts
    stats = await server.stats()
    assert stats["by_status"]["200"] == 30 + 4
    assert stats["by_status"].get("429", 0) >= 1
    assert time.monotonic() - started >= 4  # 4 requests on an empty budget at 0.5/s


async def test_exhausted_quota_blocks_documents_without_failing_them(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai("--quota-exhausted")
    provider = make_provider(_settings(server))

    outcome = await provider.analyze(_documents(SHORT[:10]))

    assert outcome.quota_blocked == {f"d{i}" for i in range(10)}
    assert not outcome.failed
    assert not outcome.analyzed
    with pytest.raises(Exception, match="insufficient_quota"):
        await provider.probe()
    await server.configure(quota_exhausted=False)
    await provider.probe()


async def test_json_object_mode_works_for_servers_without_structured_output(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai()
    provider = make_provider(_settings(server, openai_structured_output=False))

    outcome = await provider.analyze(_documents(SHORT[:3]))

    assert len(outcome.analyzed) == 3


async def test_malformed_answers_and_missing_results_are_retried(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai("--malformed-rate", "0.3", "--omit-result-rate", "0.3", "--seed", "7")
    provider = make_provider(_settings(server, retry_attempts=6))

    outcome = await provider.analyze(_documents(SHORT[:20]))

    assert len(outcome.analyzed) == 20
    assert (await server.stats())["requests_total"] > 3


async def test_timeouts_and_server_errors_are_retried_until_every_document_is_analyzed(
    fake_openai: Start, make_provider: Callable[..., OpenAIProvider]
) -> None:
    server = fake_openai(
        "--fail-rate", "0.3", "--timeout-rate", "0.2", "--timeout-sleep-s", "3", "--seed", "3"
    )
    provider = make_provider(_settings(server, retry_attempts=8, openai_timeout_s=0.5))

    outcome = await provider.analyze(_documents(SHORT[:20]))

    assert len(outcome.analyzed) == 20
    assert not outcome.failed
    stats = await server.stats()
    assert stats["by_status"].get("500", 0) >= 1  # faults happened and were absorbed
