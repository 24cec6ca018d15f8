"""A fake OpenAI-compatible HTTP server for docflow's tests and benchmarks.

It speaks the OpenAI wire format (chat completions with ``response_format``, the rate-limit
headers, the error bodies, Files and Batches) and answers deterministically from its input, so
tests can run without reaching the real API.

The user message carries the documents to analyze, each as ``<document index="N">text</document>``
(N is the 0-based index within the request); without any tag, the whole user message is document 0.
The answer's content is ``{"results": [{"index": N, "summary": ..., ...}, ...]}``, one result per
document, sorted by index.

Run it alone::

    python tests/fakes/openai_server.py --port 8080 --rpm 60 --fail-rate 0.1

or in-process from a test::

    with serve_in_thread(FakeConfig(rpm=60)) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")

With no flag it enforces no limit and injects no fault. ``POST /_admin/config`` changes the config
at runtime, ``GET /_admin/stats`` reports counters, ``GET /_admin/received`` the documents of each
request received (chat completions and batch lines, the most recent 1,000) and
``GET /_admin/answered`` the documents of each request answered 200 (what a provider bills) and
whether the client had already hung up, and ``POST /_admin/reset`` clears them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import random
import re
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import orjson
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON = dict[str, Any]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
BatchOutcome = Literal["completed", "expired", "failed"]

# Limits reported in the headers when no --rpm/--tpm is set (nothing is enforced then).
NOMINAL_RPM = 10_000
NOMINAL_TPM = 30_000_000
POISON_MARKER = "[[poison]]"
FAIL500_MARKER = "[[fail500]]"
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano")
RATE_LIMIT_DOCS = "Visit https://platform.openai.com/account/rate-limits to learn more."


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class FakeConfig:
    """Every knob of the fake. The defaults enforce no limit and inject no fault."""

    latency_ms: Annotated[float, Field(ge=0)] = 0.0
    latency_per_doc_ms: Annotated[float, Field(ge=0)] = 0.0
    rpm: Annotated[int, Field(gt=0)] | None = None
    tpm: Annotated[int, Field(gt=0)] | None = None
    quota_exhausted: bool = False
    fail_rate: Rate = 0.0
    timeout_rate: Rate = 0.0
    timeout_sleep_s: Annotated[float, Field(ge=0)] = 30.0
    malformed_rate: Rate = 0.0
    omit_result_rate: Rate = 0.0
    seed: int = 0
    batch_complete_after_s: Annotated[float, Field(ge=0)] = 1.0
    batch_outcome: BatchOutcome = "completed"


_CONFIG_ADAPTER: TypeAdapter[FakeConfig] = TypeAdapter(FakeConfig)


def patch_config(config: FakeConfig, patch: JSON) -> FakeConfig:
    """Return ``config`` with the fields in ``patch`` replaced; raises ValidationError."""
    return _CONFIG_ADAPTER.validate_python({**dataclasses.asdict(config), **patch})


# --------------------------------------------------------------------------------------------
# Errors in OpenAI's format
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered as ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "error": {"message": message, "type": type_, "param": param, "code": code}
        }
        self.headers = headers or {}

    def to_response(self) -> Response:
        return json_response(self.body, self.status, self.headers)


def invalid_request(message: str, *, param: str | None = None, status: int = 400) -> ApiError:
    return ApiError(status, message, "invalid_request_error", param=param)


def server_error() -> ApiError:
    return ApiError(500, "The server had an error while processing your request.", "server_error")


def quota_error() -> ApiError:
    return ApiError(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        code="insufficient_quota",
    )


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


# --------------------------------------------------------------------------------------------
# Small helpers: ids, durations, tokens
# --------------------------------------------------------------------------------------------


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}{secrets.token_hex(length // 2 + 1)[:length]}"


def format_duration(seconds: float) -> str:
    """Format like OpenAI's reset headers (Go durations): ``12ms``, ``1s``, ``1.5s``, ``6m0s``."""
    millis = max(0, math.ceil(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


# --------------------------------------------------------------------------------------------
# Deterministic analysis of a document
# --------------------------------------------------------------------------------------------

DOCUMENT_RE = re.compile(r'<document\s+index="(\d+)"[^>]*>(.*?)</document>', re.DOTALL)
WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
CAPITALIZED_RE = re.compile(r"\b[A-Z][\w&-]+(?:[ \t]+[A-Z][\w&-]+)*")


def word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": word_set(
        "the and that this with from have for are was were will would there their which about "
        "into than then them they been has had not but you your our its it's also more"
    ),
    "de": word_set(
        "der die das und ist nicht mit ein eine auch auf für von dem den des sich werden wird "
        "sind wir ich oder aber nach bei noch wie über"
    ),
    "fr": word_set(
        "le la les et est une des du que qui dans pour pas sur avec sont nous vous ce cette "
        "mais ou au aux il elle être plus"
    ),
    "es": word_set(
        "el la los las y es una unos del que en por para con no se su sus al lo como pero "
        "más este esta son fue muy"
    ),
}
ALL_STOPWORDS: frozenset[str] = frozenset().union(*STOPWORDS.values())
POSITIVE_WORDS = word_set(
    "good great excellent positive growth success successful happy love best improved improve "
    "strong gain gains profit win benefit record beat exceeded wonderful amazing pleased"
)
NEGATIVE_WORDS = word_set(
    "bad poor terrible negative loss losses decline failure failed sad hate worst weak drop "
    "risk crisis problem problems lawsuit fraud angry missed disappointing delay"
)
CATEGORY_BUCKETS: dict[str, frozenset[str]] = {
    "finance": word_set(
        "revenue profit earnings quarter investment investor market stock shares dividend "
        "bank finance financial budget price"
    ),
    "technology": word_set(
        "software cloud data computer algorithm server platform digital internet technology "
        "network database"
    ),
    "health": word_set("health patient patients hospital medical doctor disease clinical"),
    "legal": word_set("contract court legal regulation agreement lawsuit compliance"),
    "politics": word_set("government election minister policy parliament president"),
    "sports": word_set("match team season player players league championship tournament"),
}
ORG_SUFFIXES = word_set("Inc Corp Corporation Ltd LLC GmbH AG SA Group Bank Company Co")


def extract_documents(user_text: str) -> list[tuple[int, str]]:
    """The ``(index, text)`` pairs of a user message, sorted by index."""
    found = [(int(m.group(1)), m.group(2)) for m in DOCUMENT_RE.finditer(user_text)]
    if not found:
        return [(0, user_text)]
    return sorted(found, key=lambda pair: pair[0])


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


def summarize(text: str) -> str:
    flat = " ".join(text.split())
    first = SENTENCE_END_RE.split(flat, maxsplit=1)[0]
    return first if len(first) <= 200 else first[:197].rstrip() + "..."


def detect_language(words: list[str]) -> str:
    hits = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    return best if best != "en" and hits[best] >= 2 and hits[best] > hits["en"] else "en"


def top_keywords(words: list[str], limit: int = 5) -> list[str]:
    counts = Counter(w for w in words if len(w) > 3 and w not in ALL_STOPWORDS)
    # Counter keeps first-seen order among equal counts, so ties are deterministic.
    return [word for word, _ in counts.most_common(limit)]


def score_sentiment(words: list[str]) -> JSON:
    pos = sum(w in POSITIVE_WORDS for w in words)
    neg = sum(w in NEGATIVE_WORDS for w in words)
    score = round((pos - neg) / (pos + neg + 1), 3)
    if pos and neg and abs(score) < 0.25:
        label = "mixed"
    elif score >= 0.1:
        label = "positive"
    elif score <= -0.1:
        label = "negative"
    else:
        label = "neutral"
    return {"label": label, "score": score}


def find_entities(text: str, limit: int = 10) -> list[JSON]:
    """Runs of capitalized words not opening a sentence; ORG for acronyms and Inc/Corp/..."""
    entities: dict[str, str] = {}
    for match in CAPITALIZED_RE.finditer(text):
        words = match.group(0).split()
        before = text[: match.start()].rstrip(" \t\"'(")
        at_sentence_start = not before.strip() or before[-1] in ".!?:\n"
        if at_sentence_start and (len(words) == 1 or words[0].lower() in ALL_STOPWORDS):
            words = words[1:]
        if not words:
            continue
        name = " ".join(words)
        is_org = words[-1] in ORG_SUFFIXES or (len(name) > 1 and name.isupper())
        entities.setdefault(name, "ORG" if is_org else "MISC")
    return [{"text": name, "type": kind} for name, kind in list(entities.items())[:limit]]


def categorize(words: list[str]) -> list[str]:
    present = set(words)
    found = [name for name, bucket in CATEGORY_BUCKETS.items() if present & bucket]
    return found or ["general"]


def analyze_document(index: int, text: str) -> JSON:
    words = _words(text)
    result: JSON = {
        "index": index,
        "summary": summarize(text),
        "language": detect_language(words),
        "sentiment": score_sentiment(words),
        "keywords": top_keywords(words),
        "entities": find_entities(text),
        "categories": categorize(words),
    }
    if POISON_MARKER in text:
        result["sentiment"] = {"label": "ecstatic", "score": 7.5}
    return result


# --------------------------------------------------------------------------------------------
# Request validation
# --------------------------------------------------------------------------------------------


def message_text(message: JSON) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def strict_schema_problem(schema: Any, path: tuple[str, ...] = ()) -> str | None:
    """What OpenAI would reject in a strict json_schema, or None (checks objects recursively)."""
    if not isinstance(schema, dict):
        return None
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    if is_object or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return (
                f"In context={path}, 'additionalProperties' is required to be supplied and to be "
                "false."
            )
        missing = [key for key in props if key not in schema.get("required", [])]
        if missing:
            return (
                f"In context={path}, 'required' is required to be supplied and to be an array "
                f"including every key in properties. Missing '{missing[0]}'."
            )
        for key, sub in props.items():
            if problem := strict_schema_problem(sub, (*path, "properties", key)):
                return problem
    children: list[tuple[tuple[str, ...], Any]] = [((*path, "items"), schema.get("items"))]
    for keyword in ("anyOf", "$defs", "definitions"):
        value = schema.get(keyword)
        if isinstance(value, list):
            children += [((*path, keyword, str(i)), sub) for i, sub in enumerate(value)]
        elif isinstance(value, dict):
            children += [((*path, keyword, name), sub) for name, sub in value.items()]
    for child_path, sub in children:
        if problem := strict_schema_problem(sub, child_path):
            return problem
    return None


def check_response_format(body: JSON, all_text: str) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        if "json" not in all_text.lower():
            raise invalid_request(
                "'messages' must contain the word 'json' in some form, to use 'response_format' "
                "of type 'json_object'.",
                param="messages",
            )
    elif kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise invalid_request(
                "Missing required parameter: 'response_format.json_schema'.",
                param="response_format.json_schema",
            )
        if spec.get("strict") and (problem := strict_schema_problem(spec["schema"])):
            name = spec.get("name", "")
            raise invalid_request(
                f"Invalid schema for response_format '{name}': {problem}", param="response_format"
            )
    elif kind != "text":
        raise invalid_request(
            f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and "
            "'text'.",
            param="response_format.type",
        )


def parse_completion_request(raw: bytes) -> JSON:
    """Decode and validate a chat-completions body; raise 400 in OpenAI's words otherwise."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)"
        ) from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid_request("you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("Missing required parameter: 'messages'.", param="messages")
    if not all(isinstance(m, dict) and "role" in m for m in messages):
        raise invalid_request(
            "Invalid type for 'messages': expected message objects.", param="messages"
        )
    if body.get("stream"):
        raise invalid_request("This fake does not implement streaming.", param="stream")
    check_response_format(body, "\n".join(message_text(m) for m in messages))
    return body


def user_text(body: JSON) -> str:
    return "\n".join(message_text(m) for m in body["messages"] if m.get("role") == "user")


def prompt_tokens(body: JSON) -> int:
    return estimate_tokens("".join(message_text(m) for m in body["messages"]))


def max_output_tokens(body: JSON) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) and value > 0 else None


# --------------------------------------------------------------------------------------------
# Building completions, good and faulty
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FaultDraws:
    """Random numbers drawn for every request, whether or not a fault is on (reproducible)."""

    fail: float
    timeout: float
    malformed: float
    omit: float
    variant: float

    @classmethod
    def draw(cls, rng: random.Random) -> FaultDraws:
        return cls(rng.random(), rng.random(), rng.random(), rng.random(), rng.random())


def results_content(results: list[JSON], config: FakeConfig, draws: FaultDraws) -> str:
    """The assistant's JSON text, with the malformed/omit faults applied."""
    if draws.malformed < config.malformed_rate:
        good = orjson.dumps({"results": results}).decode()
        variants = (
            "Sure! Here is the analysis you asked for:\n" + good,  # prose around the JSON
            good[: max(1, len(good) // 2)],  # truncated JSON
            orjson.dumps({"analysis": results}).decode(),  # valid JSON without "results"
        )
        return variants[int(draws.variant * len(variants))]
    if draws.omit < config.omit_result_rate and results:
        results = [r for i, r in enumerate(results) if i != int(draws.variant * len(results))]
    return orjson.dumps({"results": results}).decode()


def build_completion(
    body: JSON, documents: list[tuple[int, str]], config: FakeConfig, draws: FaultDraws
) -> JSON:
    """A ``chat.completion`` for a validated body. Raises 500 for ``[[fail500]]``/fail-rate."""
    if draws.fail < config.fail_rate or any(FAIL500_MARKER in text for _, text in documents):
        raise server_error()
    content = results_content([analyze_document(i, t) for i, t in documents], config, draws)
    finish_reason = "stop"
    limit = max_output_tokens(body)
    if limit is not None and estimate_tokens(content) > limit:
        content, finish_reason = content[: limit * 4], "length"
    usage_in, usage_out = prompt_tokens(body), estimate_tokens(content)
    return {
        "id": new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_fakedocflow",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": usage_in,
            "completion_tokens": usage_out,
            "total_tokens": usage_in + usage_out,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


# --------------------------------------------------------------------------------------------
# Rate limiting: refilling buckets like OpenAI's per-minute limits
# --------------------------------------------------------------------------------------------


class TokenBucket:
    """Holds ``limit`` units and refills them evenly over a minute."""

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.per_second = limit / 60.0
        self.level = float(limit)
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.updated) * self.per_second)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now)."""
        return max(0.0, (amount - self.level) / self.per_second)

    def headers(self, kind: str) -> dict[str, str]:
        reset = (self.limit - self.level) / self.per_second
        return {
            f"x-ratelimit-limit-{kind}": str(self.limit),
            f"x-ratelimit-remaining-{kind}": str(max(0, math.floor(self.level))),
            f"x-ratelimit-reset-{kind}": format_duration(reset),
        }


class RateLimiter:
    """RPM and TPM buckets; ``enforce_*`` False means the limit is only reported, never hit."""

    def __init__(self, config: FakeConfig) -> None:
        now = time.monotonic()
        self.requests = TokenBucket(config.rpm or NOMINAL_RPM, now)
        self.tokens = TokenBucket(config.tpm or NOMINAL_TPM, now)
        self.enforce_requests = config.rpm is not None
        self.enforce_tokens = config.tpm is not None

    def headers(self) -> dict[str, str]:
        now = time.monotonic()
        self.requests.refill(now)
        self.tokens.refill(now)
        return {**self.requests.headers("requests"), **self.tokens.headers("tokens")}

    def acquire(self, model: str, cost: int) -> None:
        """Take one request and ``cost`` tokens, or raise the 429 OpenAI would answer."""
        now = time.monotonic()
        self.requests.refill(now)
        self.tokens.refill(now)
        if self.enforce_requests and (wait := self.requests.wait_for(1)) > 0:
            raise self._limited(model, "requests", "RPM", self.requests, 1, wait)
        if self.enforce_tokens and cost > self.tokens.limit:
            raise ApiError(
                429,
                f"Request too large for {model} in organization org-fake on tokens per min (TPM): "
                f"Limit {self.tokens.limit}, Requested {cost}. The input or output tokens must be "
                f"reduced in order to run successfully. {RATE_LIMIT_DOCS}",
                "tokens",
                code="rate_limit_exceeded",
            )
        if self.enforce_tokens and (wait := self.tokens.wait_for(cost)) > 0:
            raise self._limited(model, "tokens", "TPM", self.tokens, cost, wait)
        self.requests.level -= 1
        self.tokens.level -= cost

    @staticmethod
    def _limited(
        model: str, kind: str, unit: str, bucket: TokenBucket, requested: int, wait: float
    ) -> ApiError:
        used = bucket.limit - max(0, math.floor(bucket.level))
        return ApiError(
            429,
            f"Rate limit reached for {model} in organization org-fake on {kind} per min ({unit}): "
            f"Limit {bucket.limit}, Used {used}, Requested {requested}. "
            f"Please try again in {format_duration(wait)}. {RATE_LIMIT_DOCS}",
            kind,
            code="rate_limit_exceeded",
            headers={
                "retry-after-ms": str(math.ceil(wait * 1000)),
                "retry-after": str(math.ceil(wait)),
            },
        )


@dataclasses.dataclass
class AnsweredRequest:
    """A chat completion answered 200: its documents, when, and whether the client had hung up."""

    documents: list[str]
    answered_at: float = dataclasses.field(default_factory=time.time)
    client_gone: bool = False


# --------------------------------------------------------------------------------------------
# Counters for /_admin/stats
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    """Counters of chat completions (and batches) since start or the last reset."""

    requests_total: int = 0
    by_status: Counter[str] = dataclasses.field(default_factory=Counter)
    documents_total: int = 0
    # The most recent requests' document counts; the histogram covers every request.
    documents_per_request: deque[int] = dataclasses.field(
        default_factory=lambda: deque(maxlen=10_000)
    )
    documents_histogram: Counter[int] = dataclasses.field(default_factory=Counter)
    prompt_tokens_total: int = 0
    completion_tokens_total: int = 0
    rate_limited: Counter[str] = dataclasses.field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    batches_created: int = 0
    batch_lines_total: int = 0
    batch_lines_failed: int = 0

    def record_answer(self, completion: JSON, documents: int) -> None:
        self.documents_total += documents
        self.documents_per_request.append(documents)
        self.documents_histogram[documents] += 1
        self.prompt_tokens_total += completion["usage"]["prompt_tokens"]
        self.completion_tokens_total += completion["usage"]["completion_tokens"]

    def snapshot(self) -> JSON:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["by_status"] = dict(self.by_status)
        data["rate_limited"] = dict(self.rate_limited)
        data["documents_per_request"] = list(self.documents_per_request)
        data["documents_histogram"] = {
            str(k): v for k, v in sorted(self.documents_histogram.items())
        }
        return data


# --------------------------------------------------------------------------------------------
# Files and Batches
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = dataclasses.field(default_factory=lambda: int(time.time()))

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclasses.dataclass
class BatchJob:
    """A batch whose status advances with time, read lazily on every access."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: JSON | None
    complete_after_s: float
    outcome: BatchOutcome
    started: float = dataclasses.field(default_factory=time.monotonic)
    created_at: int = dataclasses.field(default_factory=lambda: int(time.time()))
    status: str = "validating"
    timestamps: dict[str, int] = dataclasses.field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: JSON = dataclasses.field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    errors: list[JSON] | None = None
    usage: JSON | None = None
    model: str | None = None

    def to_json(self) -> JSON:
        stamp = self.timestamps.get
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": stamp("in_progress"),
            "expires_at": self.created_at + 24 * 3600,
            "finalizing_at": stamp("finalizing"),
            "completed_at": stamp("completed"),
            "failed_at": stamp("failed"),
            "expired_at": stamp("expired"),
            "cancelling_at": stamp("cancelling"),
            "cancelled_at": stamp("cancelled"),
            "request_counts": self.counts,
            "usage": self.usage,
            "metadata": self.metadata,
        }


def batch_line_error(custom_id: str | None, code: str, message: str) -> JSON:
    return {
        "id": new_id("batch_req_"),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def batch_line_response(custom_id: str, status: int, body: JSON) -> JSON:
    return {
        "id": new_id("batch_req_"),
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": new_id("req_", 32), "body": body},
        "error": None,
    }


def jsonl(lines: list[JSON]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


# --------------------------------------------------------------------------------------------
# The server's state and behaviour
# --------------------------------------------------------------------------------------------


class FakeOpenAI:
    """Everything the routes share: config, RNG, limiter, counters, files and batches."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, BatchJob] = {}
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.limiter = RateLimiter(self.config)
        self.stats = Stats()
        # The documents of each request, as the model would see them: tests check what was sent.
        self.received: deque[list[str]] = deque(maxlen=1000)
        # The requests answered 200, i.e. billed: what a fault drill counts "paid twice" from.
        self.answered: deque[AnsweredRequest] = deque(maxlen=100_000)

    def receive(self, body: JSON) -> list[tuple[int, str]]:
        """The documents of one request, recorded."""
        documents = extract_documents(user_text(body))
        self.received.append([text for _, text in documents])
        return documents

    def update_config(self, patch: JSON) -> None:
        old, self.config = self.config, patch_config(self.config, patch)
        if (old.rpm, old.tpm) != (self.config.rpm, self.config.tpm):
            self.limiter = RateLimiter(self.config)
        if old.seed != self.config.seed:
            self.rng = random.Random(self.config.seed)

    # ---- chat completions -------------------------------------------------------------------

    async def complete(self, raw: bytes, stats: Stats) -> tuple[JSON, AnsweredRequest]:
        """Answer one request; ``stats`` is the Stats current when it arrived (reset-safe)."""
        body = parse_completion_request(raw)
        documents = self.receive(body)
        if self.config.quota_exhausted:
            stats.rate_limited["insufficient_quota"] += 1
            raise quota_error()
        cost = prompt_tokens(body) + (max_output_tokens(body) or 0)
        try:
            self.limiter.acquire(body["model"], cost)
        except ApiError as err:
            stats.rate_limited[err.body["error"]["type"]] += 1
            raise
        draws = FaultDraws.draw(self.rng)
        await self._delay(len(documents), draws)
        completion = build_completion(body, documents, self.config, draws)
        stats.record_answer(completion, len(documents))
        answered = AnsweredRequest([text for _, text in documents])
        self.answered.append(answered)
        return completion, answered

    async def _delay(self, documents: int, draws: FaultDraws) -> None:
        config = self.config
        delay = (config.latency_ms + config.latency_per_doc_ms * documents) / 1000
        if draws.timeout < config.timeout_rate:
            delay += config.timeout_sleep_s
        if delay > 0:
            await asyncio.sleep(delay)

    # ---- files --------------------------------------------------------------------------------

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(new_id("file-"), filename, purpose, content)
        self.files[stored.id] = stored
        return stored

    def get_file(self, file_id: str) -> StoredFile:
        if file_id not in self.files:
            raise invalid_request(f"No such File object: {file_id}", param="id", status=404)
        return self.files[file_id]

    # ---- batches ------------------------------------------------------------------------------

    def create_batch(self, body: JSON) -> BatchJob:
        if self.config.quota_exhausted:
            raise quota_error()
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str):
            raise invalid_request(
                "Missing required parameter: 'input_file_id'.", param="input_file_id"
            )
        self.get_file(file_id)
        if body.get("endpoint") != "/v1/chat/completions":
            raise invalid_request(
                f"Invalid value: '{body.get('endpoint')}'. This fake supports only "
                "'/v1/chat/completions'.",
                param="endpoint",
            )
        if body.get("completion_window") != "24h":
            raise invalid_request(
                "Invalid value for 'completion_window': only '24h' is supported.",
                param="completion_window",
            )
        job = BatchJob(
            id=new_id("batch_"),
            input_file_id=file_id,
            endpoint=body["endpoint"],
            completion_window="24h",
            metadata=body.get("metadata"),
            complete_after_s=self.config.batch_complete_after_s,
            outcome=self.config.batch_outcome,
        )
        lines = self.files[file_id].content.splitlines()
        job.counts["total"] = sum(1 for line in lines if line.strip())
        self.batches[job.id] = job
        self.stats.batches_created += 1
        return job

    def get_batch(self, batch_id: str) -> BatchJob:
        if batch_id not in self.batches:
            raise invalid_request(f"No batch found with id '{batch_id}'.", status=404)
        job = self.batches[batch_id]
        self._advance(job)
        return job

    def cancel_batch(self, batch_id: str) -> BatchJob:
        job = self.get_batch(batch_id)
        if job.status not in ("validating", "in_progress"):
            raise invalid_request(f"Cannot cancel a batch with status '{job.status}'.")
        job.status = "cancelling"
        job.timestamps["cancelling"] = int(time.time())
        return job

    def _advance(self, job: BatchJob) -> None:
        """Move a batch along validating -> in_progress -> its outcome, by elapsed time."""
        now, elapsed = int(time.time()), time.monotonic() - job.started
        if job.status == "cancelling":
            job.status = "cancelled"
            job.timestamps["cancelled"] = now
            return
        if job.status == "validating" and elapsed >= job.complete_after_s / 4:
            job.status = "in_progress"
            job.timestamps["in_progress"] = now
        if job.status == "in_progress" and elapsed >= job.complete_after_s:
            self._finish(job, now)

    def _finish(self, job: BatchJob, now: int) -> None:
        if job.outcome == "failed":
            job.status = "failed"
            job.errors = [
                {
                    "code": "invalid_request",
                    "message": "The batch failed validation.",
                    "param": None,
                    "line": None,
                }
            ]
            job.timestamps["failed"] = now
            return
        lines = self.files[job.input_file_id].content.decode("utf-8", "replace").splitlines()
        lines = [line for line in lines if line.strip()]
        if job.outcome == "expired":
            outputs: list[JSON] = []
            errors = [
                batch_line_error(
                    _custom_id(line),
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                )
                for line in lines
            ]
        else:
            outputs, errors = self._run_lines(job, lines)
        job.timestamps["finalizing"] = now
        job.counts = {"total": len(lines), "completed": len(outputs), "failed": len(errors)}
        if outputs:
            job.output_file_id = self.add_file(
                "batch_output.jsonl", "batch_output", jsonl(outputs)
            ).id
        if errors:
            job.error_file_id = self.add_file(
                "batch_errors.jsonl", "batch_output", jsonl(errors)
            ).id
        job.status = "expired" if job.outcome == "expired" else "completed"
        job.timestamps[job.status] = now
        self.stats.batch_lines_total += len(lines)
        self.stats.batch_lines_failed += len(errors)

    def _run_lines(self, job: BatchJob, lines: list[str]) -> tuple[list[JSON], list[JSON]]:
        outputs: list[JSON] = []
        errors: list[JSON] = []
        usage = {"input_tokens": 0, "output_tokens": 0}
        for line in lines:
            answer = self._run_line(line)
            response = answer.get("response")
            if response is None or response["status_code"] != 200:
                errors.append(answer)
                continue
            outputs.append(answer)
            job.model = job.model or response["body"]["model"]
            usage["input_tokens"] += response["body"]["usage"]["prompt_tokens"]
            usage["output_tokens"] += response["body"]["usage"]["completion_tokens"]
        job.usage = {
            **usage,
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        return outputs, errors

    def _run_line(self, line: str) -> JSON:
        """One batch input line to one output or error line (no limits, no latency)."""
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError:
            return batch_line_error(
                None, "invalid_json_line", "This line is not parseable as valid JSON."
            )
        custom_id = request.get("custom_id") if isinstance(request, dict) else None
        if not isinstance(custom_id, str) or not isinstance(request.get("body"), dict):
            return batch_line_error(
                None, "invalid_request", "Each line needs 'custom_id' and 'body'."
            )
        if request.get("url") != "/v1/chat/completions":
            return batch_line_error(
                custom_id,
                "invalid_url",
                "The URL provided for this request does not match the batch endpoint.",
            )
        try:
            body = parse_completion_request(orjson.dumps(request["body"]))
            documents = self.receive(body)
            completion = build_completion(body, documents, self.config, FaultDraws.draw(self.rng))
        except ApiError as err:
            return batch_line_response(custom_id, err.status, err.body)
        return batch_line_response(custom_id, 200, completion)


def _custom_id(line: str) -> str | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    custom_id = value.get("custom_id") if isinstance(value, dict) else None
    return custom_id if isinstance(custom_id, str) else None


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------


class RequestIdMiddleware:
    """Adds ``x-request-id``, ``openai-processing-ms`` and ``openai-version`` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = str(round((time.perf_counter() - started) * 1000))
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", new_id("req_", 32).encode()),
                    (b"openai-processing-ms", elapsed.encode()),
                    (b"openai-version", b"2020-10-01"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def require_bearer(request: Request) -> None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
            "field (with blank username) if you're accessing the API from your browser and are "
            "prompted for a username. You can obtain an API key from "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
        )


def fake_of(request: Request) -> FakeOpenAI:
    fake: FakeOpenAI = request.app.state.fake
    return fake


async def json_body(request: Request) -> JSON:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid_request("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body


def model_object(model: str) -> JSON:
    return {"id": model, "object": "model", "created": 1_715_367_049, "owned_by": "system"}


def api_router() -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(require_bearer)])

    @router.post("/chat/completions")
    async def chat_completions(request: Request) -> Response:
        fake = fake_of(request)
        stats = fake.stats
        stats.requests_total += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            completion, answered = await fake.complete(await request.body(), stats)
            # Billed either way; a client that died waiting never reads the answer.
            answered.client_gone = await request.is_disconnected()
            response = json_response(completion)
        except ApiError as err:
            response = err.to_response()
        finally:
            stats.in_flight -= 1
        stats.by_status[str(response.status_code)] += 1
        response.headers.update(fake.limiter.headers())
        return response

    @router.get("/models")
    async def list_models() -> JSON:
        return {"object": "list", "data": [model_object(m) for m in MODELS]}

    @router.get("/models/{model}")
    async def get_model(model: str) -> JSON:
        return model_object(model)

    @router.post("/files")
    async def upload_file(request: Request) -> JSON:
        form = await request.form()
        upload, purpose = form.get("file"), form.get("purpose")
        if upload is None or isinstance(upload, str):
            raise invalid_request("Missing required parameter: 'file'.", param="file")
        if purpose not in ("batch", "assistants", "fine-tune", "user_data", "vision"):
            raise invalid_request(f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
        content = await upload.read()
        return (
            fake_of(request).add_file(upload.filename or "upload.jsonl", purpose, content).to_json()
        )

    @router.get("/files")
    async def list_files(request: Request) -> JSON:
        files = [f.to_json() for f in fake_of(request).files.values()]
        return {"object": "list", "data": files, "has_more": False}

    @router.get("/files/{file_id}")
    async def get_file(request: Request, file_id: str) -> JSON:
        return fake_of(request).get_file(file_id).to_json()

    @router.delete("/files/{file_id}")
    async def delete_file(request: Request, file_id: str) -> JSON:
        fake_of(request).get_file(file_id)
        del fake_of(request).files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    @router.get("/files/{file_id}/content")
    async def file_content(request: Request, file_id: str) -> Response:
        content = fake_of(request).get_file(file_id).content
        return Response(content, media_type="application/octet-stream")

    @router.post("/batches")
    async def create_batch(request: Request) -> JSON:
        return fake_of(request).create_batch(await json_body(request)).to_json()

    @router.get("/batches")
    async def list_batches(request: Request) -> JSON:
        fake = fake_of(request)
        data = [fake.get_batch(b).to_json() for b in reversed(list(fake.batches))]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {
            "object": "list",
            "data": data,
            "first_id": first,
            "last_id": last,
            "has_more": False,
        }

    @router.get("/batches/{batch_id}")
    async def get_batch(request: Request, batch_id: str) -> JSON:
        return fake_of(request).get_batch(batch_id).to_json()

    @router.post("/batches/{batch_id}/cancel")
    async def cancel_batch(request: Request, batch_id: str) -> JSON:
        return fake_of(request).cancel_batch(batch_id).to_json()

    return router


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/_admin")

    @router.get("/config")
    async def get_config(request: Request) -> JSON:
        return dataclasses.asdict(fake_of(request).config)

    @router.post("/config")
    async def set_config(request: Request) -> Response:
        fake = fake_of(request)
        try:
            fake.update_config(await json_body(request))
        except ValidationError as err:
            message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise invalid_request(f"Invalid config patch: {message}") from None
        return json_response(dataclasses.asdict(fake.config))

    @router.get("/stats")
    async def get_stats(request: Request) -> JSON:
        return fake_of(request).stats.snapshot()

    @router.get("/received")
    async def get_received(request: Request) -> JSON:
        return {"requests": list(fake_of(request).received)}

    @router.get("/answered")
    async def get_answered(request: Request) -> JSON:
        return {"requests": [dataclasses.asdict(a) for a in fake_of(request).answered]}

    @router.post("/reset")
    async def reset(request: Request) -> JSON:
        fake_of(request).reset()
        return {"reset": True}

    return router


async def _api_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.to_response()


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        message = f"Invalid URL ({request.method} {request.url.path})"
        return invalid_request(message, status=404).to_response()
    return ApiError(exc.status_code, str(exc.detail), "invalid_request_error").to_response()


def create_app(config: FakeConfig | None = None) -> FastAPI:
    """The ASGI app; its state lives in ``app.state.fake`` (a :class:`FakeOpenAI`)."""
    app = FastAPI(title="fake-openai", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = FakeOpenAI(config or FakeConfig())
    app.include_router(api_router())
    app.include_router(admin_router())
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_middleware(RequestIdMiddleware)
    return app


# --------------------------------------------------------------------------------------------
# Running it: in a thread for tests, or as a program
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunningServer:
    app: FastAPI
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` / ``AsyncOpenAI(base_url=...)`` expects (ends in /v1)."""
        return f"{self.url}/v1"

    @property
    def fake(self) -> FakeOpenAI:
        fake: FakeOpenAI = self.app.state.fake
        return fake


@contextlib.contextmanager
def serve_in_thread(
    config: FakeConfig | None = None, host: str = "127.0.0.1"
) -> Iterator[RunningServer]:
    """Run the fake with uvicorn on a free port in a daemon thread for the ``with`` block."""
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(app, host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, FakeConfig]:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server for docflow.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--latency-per-doc-ms", type=float, default=0.0, help="added per document")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute limit")
    parser.add_argument("--quota-exhausted", action="store_true", help="429 insufficient_quota")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction answered 500")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="fraction that stall")
    parser.add_argument("--timeout-sleep-s", type=float, default=30.0, help="how long they stall")
    parser.add_argument("--malformed-rate", type=float, default=0.0, help="fraction with bad JSON")
    parser.add_argument(
        "--omit-result-rate", type=float, default=0.0, help="fraction missing one result"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    parser.add_argument("--batch-complete-after-s", type=float, default=1.0)
    parser.add_argument(
        "--batch-outcome", choices=["completed", "expired", "failed"], default="completed"
    )
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(FakeConfig)}
    config = _CONFIG_ADAPTER.validate_python({k: v for k, v in vars(args).items() if k in fields})
    return args, config


def main(argv: list[str] | None = None) -> None:
    args, config = parse_args(argv)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
