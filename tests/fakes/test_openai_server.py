"""The fake OpenAI server, checked with the official SDK against a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:  # pytest's importlib mode does not put the repository root on sys.path
    sys.path.insert(0, ROOT)

from tests.fakes.openai_server import (  # noqa: E402
    FakeConfig,
    RunningServer,
    analyze_document,
    extract_documents,
    format_duration,
    parse_args,
    serve_in_thread,
    strict_schema_problem,
)

pytestmark = pytest.mark.unit

MODEL = "gpt-4o-mini"
SYSTEM = "You analyze documents. Answer with JSON: one result per document, by index."
DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "additionalProperties": False, "required": list(schema["properties"])}


RESULT_SCHEMA = _strict(
    {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "summary": {"type": "string"},
            "language": {"type": "string"},
            "sentiment": _strict(
                {
                    "type": "object",
                    "properties": {
                        "label": {
                            "type": "string",
                            "enum": ["positive", "neutral", "negative", "mixed"],
                        },
                        "score": {"type": "number"},
                    },
                }
            ),
            "keywords": {"type": "array", "items": {"type": "string"}},
            "entities": {
                "type": "array",
                "items": _strict(
                    {
                        "type": "object",
                        "properties": {"text": {"type": "string"}, "type": {"type": "string"}},
                    }
                ),
            },
            "categories": {"type": "array", "items": {"type": "string"}},
        },
    }
)
RESPONSE_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "document_analysis",
        "strict": True,
        "schema": _strict(
            {"type": "object", "properties": {"results": {"type": "array", "items": RESULT_SCHEMA}}}
        ),
    },
}


def user_message(*texts: str) -> str:
    docs = "\n".join(f'<document index="{i}">{text}</document>' for i, text in enumerate(texts))
    return f"Analyze these documents:\n{docs}"


def messages(content: str) -> list[Any]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


async def complete(client: AsyncOpenAI, content: str, max_tokens: int | None = None) -> Any:
    return await client.chat.completions.create(
        model=MODEL,
        messages=messages(content),
        response_format=RESPONSE_FORMAT,
        max_tokens=max_tokens,
    )


def results_of(completion: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = json.loads(completion.choices[0].message.content)["results"]
    return results


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_in_thread() as running:
        yield running


@pytest.fixture
def fake(server: RunningServer) -> Iterator[RunningServer]:
    """The shared server, back to the defaults (no limits, no faults) for each test."""
    server.fake.config = FakeConfig()
    server.fake.reset()
    yield server
    server.fake.config = FakeConfig()
    server.fake.reset()


@pytest.fixture
async def client(fake: RunningServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def http(fake: RunningServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=fake.url, timeout=10) as raw:
        yield raw


async def set_config(http: httpx2.AsyncClient, **patch: Any) -> None:
    response = await http.post("/_admin/config", json=patch)
    assert response.status_code == 200, response.text


# ---- chat completions ---------------------------------------------------------------------


async def test_json_schema_answer_has_one_result_per_document_in_index_order(
    client: AsyncOpenAI,
) -> None:
    content = (
        '<document index="2">Die Firma ist nicht gross, aber sie wird wachsen.</document>'
        '<document index="0">Acme Corp reported record revenue and strong profit this quarter. '
        "The CEO Jane Doe was pleased.</document>"
        '<document index="1">A calm day.</document>'
    )
    completion = await complete(client, content)

    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop"
    results = results_of(completion)
    assert [r["index"] for r in results] == [0, 1, 2]
    first = results[0]
    assert first["summary"] == "Acme Corp reported record revenue and strong profit this quarter."
    assert first["language"] == "en"
    assert first["sentiment"]["label"] == "positive"
    assert -1 <= first["sentiment"]["score"] <= 1
    assert first["categories"] == ["finance"]
    assert {"text": "Acme Corp", "type": "ORG"} in first["entities"]
    assert {"text": "CEO Jane Doe", "type": "MISC"} in first["entities"]
    assert "revenue" in first["keywords"]
    assert len(first["keywords"]) <= 5
    assert results[1]["categories"] == ["general"]
    assert results[2]["language"] == "de"
    assert completion.usage is not None
    prompt_chars = len(SYSTEM) + len(content)
    assert completion.usage.prompt_tokens == -(-prompt_chars // 4)
    assert completion.usage.completion_tokens == -(
        -len(completion.choices[0].message.content or "") // 4
    )
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_answers_are_deterministic(client: AsyncOpenAI) -> None:
    content = user_message("Great growth, but a lawsuit is a risk.", "Nothing happened.")
    first, second = await complete(client, content), await complete(client, content)
    assert results_of(first) == results_of(second)
    assert results_of(first)[0]["sentiment"]["label"] == "mixed"


async def test_message_without_document_tags_is_document_zero(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=messages("Plain text about software and cloud data."),
        response_format={"type": "json_object"},
    )
    results = results_of(completion)
    assert [r["index"] for r in results] == [0]
    assert results[0]["categories"] == ["technology"]


async def test_strict_schema_without_additional_properties_false_is_rejected(
    client: AsyncOpenAI,
) -> None:
    loose: Any = {
        "type": "json_schema",
        "json_schema": {
            "name": "loose",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": ["a"],
            },
        },
    }
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=MODEL,
            messages=messages("x"),
            response_format=loose,
        )
    assert "additionalProperties" in str(caught.value)
    assert caught.value.param == "response_format"


async def test_json_object_needs_the_word_json(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hello"}],
            response_format={"type": "json_object"},
        )


async def test_max_tokens_truncates_with_finish_reason_length(client: AsyncOpenAI) -> None:
    completion = await complete(client, user_message("Some text " * 50), max_tokens=10)
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].message.content or "") == 40


# ---- rate limits ----------------------------------------------------------------------------


async def test_rate_limit_headers_present_and_decreasing(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await set_config(http, rpm=6, tpm=100_000)
    seen = []
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages(user_message("hello")), max_tokens=100
        )
        seen.append(raw.headers)
        assert raw.parse().choices[0].finish_reason == "stop"

    for headers in seen:
        assert headers["x-ratelimit-limit-requests"] == "6"
        assert headers["x-ratelimit-limit-tokens"] == "100000"
        assert DURATION.match(headers["x-ratelimit-reset-requests"])
        assert DURATION.match(headers["x-ratelimit-reset-tokens"])
        assert headers["x-request-id"].startswith("req_")
        assert int(headers["openai-processing-ms"]) >= 0
    remaining = [int(h["x-ratelimit-remaining-requests"]) for h in seen]
    assert remaining == [5, 4, 3]
    tokens = [int(h["x-ratelimit-remaining-tokens"]) for h in seen]
    assert tokens[0] > tokens[1] > tokens[2]
    assert tokens[0] < 100_000 - 100  # prompt estimate + max_tokens were taken


async def test_headers_are_sent_without_limits(client: AsyncOpenAI) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages("json please")
    )
    assert int(raw.headers["x-ratelimit-limit-requests"]) > 0
    assert "x-ratelimit-remaining-tokens" in raw.headers


async def test_rpm_limit_answers_429_with_retry_after(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await set_config(http, rpm=2)
    for _ in range(2):
        await complete(client, user_message("ok"))
    with pytest.raises(openai.RateLimitError) as caught:
        await complete(client, user_message("ok"))

    error = caught.value
    assert error.code == "rate_limit_exceeded"
    assert error.type == "requests"
    expected = r"\(RPM\): Limit 2, Used 2, Requested 1\. Please try again in [\d.]+m?s\."
    assert re.search(expected, error.message)
    headers = error.response.headers
    assert 0 < int(headers["retry-after-ms"]) <= 30_000
    assert int(headers["retry-after"]) == -(-int(headers["retry-after-ms"]) // 1000)
    assert headers["x-ratelimit-remaining-requests"] == "0"
    stats = (await http.get("/_admin/stats")).json()
    assert stats["rate_limited"] == {"requests": 1}
    assert stats["by_status"] == {"200": 2, "429": 1}


async def test_tpm_limit_counts_max_tokens(client: AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    await set_config(http, tpm=1000)
    await complete(client, user_message("short"), max_tokens=600)
    with pytest.raises(openai.RateLimitError) as caught:
        await complete(client, user_message("short"), max_tokens=600)
    assert caught.value.type == "tokens"
    assert "on tokens per min (TPM): Limit 1000" in caught.value.message
    assert int(caught.value.response.headers["retry-after-ms"]) > 0

    with pytest.raises(openai.RateLimitError, match="Request too large"):
        await complete(client, user_message("short"), max_tokens=5000)


async def test_quota_exhausted_flag_flips_at_runtime(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await set_config(http, quota_exhausted=True)
    with pytest.raises(openai.RateLimitError) as caught:
        await complete(client, user_message("ok"))
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert "exceeded your current quota" in caught.value.message
    assert "retry-after" not in caught.value.response.headers

    await set_config(http, quota_exhausted=False)
    assert results_of(await complete(client, user_message("ok")))


# ---- faults ---------------------------------------------------------------------------------


async def test_fail_rate_one_answers_500(client: AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    await set_config(http, fail_rate=1.0)
    with pytest.raises(openai.InternalServerError) as caught:
        await complete(client, user_message("ok"))
    assert caught.value.status_code == 500
    assert caught.value.type == "server_error"
    assert "x-ratelimit-remaining-requests" in caught.value.response.headers


async def test_fail500_marker_fails_the_whole_request(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        await complete(client, user_message("fine", "broken [[fail500]]"))


async def test_poison_marker_spoils_only_that_document(client: AsyncOpenAI) -> None:
    results = results_of(await complete(client, user_message("good", "bad [[poison]]", "ok")))
    labels = [r["sentiment"]["label"] for r in results]
    assert labels[1] not in {"positive", "neutral", "negative", "mixed"}
    assert all(label in {"positive", "neutral", "negative", "mixed"} for label in labels[::2])


async def test_malformed_rate_one_breaks_the_content(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await set_config(http, malformed_rate=1.0)
    for _ in range(6):
        completion = await complete(client, user_message("one", "two"))
        content = completion.choices[0].message.content or ""
        try:
            parsed = json.loads(content)
        except json.JSONDecodeError:
            continue
        assert "results" not in parsed


async def test_omit_result_rate_one_drops_one_result(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await set_config(http, omit_result_rate=1.0)
    results = results_of(await complete(client, user_message("a", "b", "c")))
    assert len(results) == 2
    assert {r["index"] for r in results} < {0, 1, 2}


async def test_timeout_rate_stalls_the_answer(
    fake: RunningServer, http: httpx2.AsyncClient
) -> None:
    await set_config(http, timeout_rate=1.0, timeout_sleep_s=1.0)
    async with AsyncOpenAI(
        base_url=fake.base_url, api_key="test", max_retries=0, timeout=0.2
    ) as impatient:
        with pytest.raises(openai.APITimeoutError):
            await complete(impatient, user_message("slow"))


async def test_latency_is_added(client: AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    await set_config(http, latency_ms=150, latency_per_doc_ms=50)
    started = time.perf_counter()
    await complete(client, user_message("a", "b"))
    assert time.perf_counter() - started >= 0.25


async def test_faults_follow_the_seed(client: AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    async def statuses() -> list[int]:
        codes = []
        for _ in range(12):
            try:
                await complete(client, "json")
                codes.append(200)
            except openai.InternalServerError:
                codes.append(500)
        return codes

    await set_config(http, fail_rate=0.5, seed=7)
    first = await statuses()
    await http.post("/_admin/reset")
    assert await statuses() == first
    assert set(first) == {200, 500}


# ---- admin, auth, routes ----------------------------------------------------------------------


async def test_stats_count_requests_documents_and_tokens(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    first = await complete(client, user_message("a", "b", "c"))
    second = await complete(client, user_message("d"))
    stats = (await http.get("/_admin/stats")).json()
    assert stats["requests_total"] == 2
    assert stats["by_status"] == {"200": 2}
    assert stats["documents_total"] == 4
    assert stats["documents_per_request"] == [3, 1]
    assert stats["documents_histogram"] == {"1": 1, "3": 1}
    assert first.usage is not None
    assert second.usage is not None
    assert stats["prompt_tokens_total"] == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert stats["completion_tokens_total"] == (
        first.usage.completion_tokens + second.usage.completion_tokens
    )
    assert stats["max_in_flight"] >= 1

    assert (await http.post("/_admin/reset")).status_code == 200
    stats = (await http.get("/_admin/stats")).json()
    assert stats["requests_total"] == 0
    assert stats["documents_per_request"] == []


async def test_received_lists_each_requests_documents(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await complete(client, user_message("a", "b"))
    await complete(client, user_message("c"))
    assert (await http.get("/_admin/received")).json() == {"requests": [["a", "b"], ["c"]]}

    await http.post("/_admin/reset")
    assert (await http.get("/_admin/received")).json() == {"requests": []}


async def test_answered_lists_only_billed_requests(
    client: AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    await complete(client, user_message("paid", "for"))
    await http.post("/_admin/config", json={"quota_exhausted": True})
    with pytest.raises(openai.RateLimitError):
        await complete(client, user_message("refused"))
    answered = (await http.get("/_admin/answered")).json()["requests"]
    assert [(a["documents"], a["client_gone"]) for a in answered] == [(["paid", "for"], False)]
    assert answered[0]["answered_at"] > 0


async def test_answered_says_when_the_client_had_hung_up(
    fake: RunningServer, http: httpx2.AsyncClient
) -> None:
    await set_config(http, latency_ms=300)
    async with AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0, timeout=0.05) as sdk:
        with pytest.raises(openai.APITimeoutError):
            await complete(sdk, user_message("abandoned"))
    await asyncio.sleep(0.5)
    answered = (await http.get("/_admin/answered")).json()["requests"]
    assert [(a["documents"], a["client_gone"]) for a in answered] == [(["abandoned"], True)]


async def test_admin_config_validates_the_patch(http: httpx2.AsyncClient) -> None:
    bad_field = await http.post("/_admin/config", json={"no_such_knob": 1})
    assert bad_field.status_code == 400
    assert bad_field.json()["error"]["type"] == "invalid_request_error"
    bad_value = await http.post("/_admin/config", json={"fail_rate": 2})
    assert bad_value.status_code == 400
    good = await http.post("/_admin/config", json={"rpm": 5, "latency_ms": 1})
    assert good.json()["rpm"] == 5
    assert (await http.get("/_admin/config")).json()["latency_ms"] == 1


async def test_missing_api_key_is_401(http: httpx2.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert response.status_code == 401
    assert "You didn't provide an API key" in response.json()["error"]["message"]
    assert response.headers["x-request-id"].startswith("req_")


async def test_unknown_route_is_404_in_openai_format(http: httpx2.AsyncClient) -> None:
    response = await http.get("/v1/nothing-here", headers={"Authorization": "Bearer t"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nothing-here)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_invalid_body_is_400(http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/v1/chat/completions", content=b"{not json", headers={"Authorization": "Bearer t"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_models_are_listed(client: AsyncOpenAI) -> None:
    models = [model.id async for model in client.models.list()]
    assert MODEL in models
    assert (await client.models.retrieve("custom-model")).id == "custom-model"


# ---- files and batches ------------------------------------------------------------------------


def batch_line(custom_id: str, *texts: str) -> bytes:
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": MODEL,
            "messages": messages(user_message(*texts)),
            "response_format": RESPONSE_FORMAT,
        },
    }
    return json.dumps(line).encode() + b"\n"


async def run_batch(client: AsyncOpenAI, content: bytes) -> Any:
    uploaded = await client.files.create(file=("in.jsonl", content), purpose="batch")
    assert uploaded.purpose == "batch"
    assert uploaded.bytes == len(content)
    assert (await client.files.content(uploaded.id)).content == content
    batch = await client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "test"},
    )
    assert batch.status == "validating"
    seen: set[str] = {batch.status}
    deadline = time.monotonic() + 10
    while batch.status in ("validating", "in_progress", "finalizing"):
        assert time.monotonic() < deadline, "the batch never finished"
        await asyncio.sleep(0.02)
        batch = await client.batches.retrieve(batch.id)
        seen.add(batch.status)
    assert "in_progress" in seen or batch.status == "failed"
    return batch


async def jsonl_of(client: AsyncOpenAI, file_id: str) -> dict[str | None, dict[str, Any]]:
    text = (await client.files.content(file_id)).text
    lines = [json.loads(line) for line in text.splitlines()]
    return {line["custom_id"]: line for line in lines}


async def test_batch_lifecycle_to_completed(client: AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    await set_config(http, batch_complete_after_s=0.3)
    content = (
        batch_line("doc-a", "Revenue grew.", "Profit fell.")
        + batch_line("doc-b", "Contains [[poison]] here.")
        + batch_line("doc-c", "Fails [[fail500]].")
        + b"{this is not json}\n"
    )
    batch = await run_batch(client, content)

    assert batch.status == "completed"
    assert batch.metadata == {"run": "test"}
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (4, 2)
    assert batch.request_counts.failed == 2
    assert batch.output_file_id
    assert batch.error_file_id
    assert batch.completed_at is not None
    assert batch.usage is not None
    assert batch.usage.total_tokens > 0

    output = await jsonl_of(client, batch.output_file_id)
    assert set(output) == {"doc-a", "doc-b"}
    answer = output["doc-a"]["response"]
    assert answer["status_code"] == 200
    assert answer["body"]["object"] == "chat.completion"
    results = json.loads(answer["body"]["choices"][0]["message"]["content"])["results"]
    assert [r["index"] for r in results] == [0, 1]
    poisoned = json.loads(output["doc-b"]["response"]["body"]["choices"][0]["message"]["content"])
    assert poisoned["results"][0]["sentiment"]["label"] == "ecstatic"

    errors = await jsonl_of(client, batch.error_file_id)
    assert errors["doc-c"]["response"]["status_code"] == 500
    assert errors[None]["error"]["code"] == "invalid_json_line"
    assert (await client.files.retrieve(batch.output_file_id)).purpose == "batch_output"
    stats = (await http.get("/_admin/stats")).json()
    assert (stats["batches_created"], stats["batch_lines_total"]) == (1, 4)


@pytest.mark.parametrize("outcome", ["expired", "failed"])
async def test_batch_outcomes(client: AsyncOpenAI, http: httpx2.AsyncClient, outcome: str) -> None:
    await set_config(http, batch_complete_after_s=0.1, batch_outcome=outcome)
    batch = await run_batch(client, batch_line("only", "text"))
    assert batch.status == outcome
    assert batch.output_file_id is None
    if outcome == "expired":
        assert batch.error_file_id
        errors = await jsonl_of(client, batch.error_file_id)
        assert errors["only"]["error"]["code"] == "batch_expired"
    else:
        assert batch.errors is not None
        assert batch.errors.data
        assert batch.failed_at is not None


async def test_batch_cancel(client: AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    await set_config(http, batch_complete_after_s=60)
    uploaded = await client.files.create(file=("in.jsonl", batch_line("x", "y")), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelling = await client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert (await client.batches.retrieve(batch.id)).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        await client.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):
        await client.batches.retrieve("batch_unknown")


# ---- pure helpers and the command line ------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0ms"), (0.012, "12ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s"), (3725.5, "1h2m5.5s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_extract_documents_sorts_by_index() -> None:
    text = '<document index="1">b</document> and <document index="0">a</document>'
    assert extract_documents(text) == [(0, "a"), (1, "b")]
    assert extract_documents("no tags") == [(0, "no tags")]


def test_analysis_of_other_languages_and_long_text() -> None:
    assert analyze_document(0, "Le marché est en hausse et les prix sont bons.")["language"] == "fr"
    assert (
        analyze_document(0, "El mercado es muy bueno y los precios son altos.")["language"] == "es"
    )
    summary = analyze_document(0, "word " * 100)["summary"]
    assert len(summary) <= 200


def test_strict_schema_problem_finds_nested_issues() -> None:
    assert strict_schema_problem(RESPONSE_FORMAT["json_schema"]["schema"]) is None
    nested = _strict(
        {"type": "object", "properties": {"inner": {"type": "object", "properties": {}}}}
    )
    assert "additionalProperties" in (strict_schema_problem(nested) or "")
    partial = {
        "type": "object",
        "properties": {"a": {}},
        "required": [],
        "additionalProperties": False,
    }
    assert "Missing 'a'" in (strict_schema_problem(partial) or "")


def test_parse_args_defaults_are_off() -> None:
    args, config = parse_args(["--port", "9999"])
    assert args.port == 9999
    assert config == FakeConfig()
    _, config = parse_args(["--rpm", "5", "--quota-exhausted", "--batch-outcome", "expired"])
    assert (config.rpm, config.quota_exhausted, config.batch_outcome) == (5, True, "expired")


def test_runs_standalone_from_the_command_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = Path(__file__).with_name("openai_server.py")
    process = subprocess.Popen([sys.executable, str(script), "--port", str(port), "--rpm", "7"])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert response.status_code == 401
        answer = httpx2.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"Authorization": "Bearer t"},
            json={"model": MODEL, "messages": messages("json")},
        )
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit-requests"] == "7"
    finally:
        process.terminate()
        process.wait(timeout=10)
