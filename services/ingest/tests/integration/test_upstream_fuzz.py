"""Hostile messages on `documents.incoming` (upstream_fuzz.py), each followed by a valid one on
the same partition, against the ingest app on the real Kafka, FerretDB and Redis.

Every hostile message must end in the dead-letter topic with its original bytes and its reason,
every valid one must be stored, the partition's offset must be committed past all of them, and
the consumer must neither rejoin its group nor log a stack trace on the way.

`UPSTREAM_FUZZ_MESSAGES` (default 150) random messages join the catalogue;
`UPSTREAM_FUZZ_SEED` (default 13) chooses them. `make fuzz` runs a long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from docflow.common.clients import ensure_topics
from docflow.common.events import DeadLetterHeader, Topic
from docflow.common.kafka import PAYLOAD_BYTES_HEADER, PAYLOAD_TRUNCATED_HEADER
from docflow.ingest.main import create_app
from docflow.ingest.settings import KIB, IngestSettings
from docflow.testing import Isolation, ServiceProcess, collect_messages, free_port, json_log_lines
from services.ingest.tests.integration.test_incoming import committed_offsets, wait_for
from services.ingest.tests.integration.upstream_fuzz import (
    Hostile,
    Verdict,
    catalogue,
    document,
    predicted,
    produce_with_raw_header_name,
    random_messages,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RANDOM_MESSAGES = int(os.environ.get("UPSTREAM_FUZZ_MESSAGES", "150"))
SEED = int(os.environ.get("UPSTREAM_FUZZ_SEED", "13"))
PARTITION = 0  # one partition: a message that wedged it would hold back every later one
_JOINING = "(Re-)joining group"


@pytest.fixture
def settings(isolation: Isolation) -> IngestSettings:
    # A message limit well under the broker's, so both sides of it are reachable.
    return IngestSettings(
        max_content_chars=5_000,
        max_message_bytes=512 * KIB,
        incoming_batch_timeout_ms=100,
    )


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every line logged from before the consumer joins its group until the test ends."""
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    previous = coordinator.level
    coordinator.setLevel(logging.INFO)  # it says when the consumer (re)joins its group
    with json_log_lines("ingest") as lines:
        yield lines
    coordinator.setLevel(previous)


@pytest.fixture
async def app(settings: IngestSettings, logs: list[dict[str, Any]]) -> AsyncIterator[FastAPI]:
    # Topics whose leaders are elected before the consumer's first fetch: a fresh topic's
    # election is logged as an error, which would hide one caused by a message.
    topics = [settings.topic(topic) for topic in Topic]
    await ensure_topics(settings, topics)
    await topics_led(topics)
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


async def topics_led(topics: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092")
    await producer.start()
    try:
        for topic in topics:
            await producer.partitions_for(topic)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def loop_stalls() -> AsyncIterator[list[float]]:
    """The longest the event loop was held (s) while the block ran, for the printed figures
    (a timing is reported, never asserted)."""
    longest = [0.0]

    async def tick() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            longest[0] = max(longest[0], time.perf_counter() - before - 0.005)

    ticker = asyncio.create_task(tick())
    try:
        yield longest
    finally:
        ticker.cancel()


@dataclass(frozen=True, slots=True)
class Sent:
    message: Hostile
    verdict: Verdict
    offset: int


async def produce(topic: str, messages: Sequence[Hostile]) -> list[int]:
    """Each message with its own key and headers, in order, on one partition."""
    producer = AIOKafkaProducer(
        bootstrap_servers="127.0.0.1:9092",
        acks="all",
        enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,  # the broker, not the client, decides what is too big
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                message.value,
                key=message.key,
                headers=list(message.headers),
                partition=PARTITION,
            )
            for message in messages
        ]
        return [(await future).offset for future in futures]
    finally:
        await producer.stop()


def interleaved(hostile: Sequence[Hostile], *, run: str) -> list[Hostile]:
    """Each hostile message followed by a valid one, which must get through after it."""
    messages: list[Hostile] = []
    for index, message in enumerate(hostile):
        messages += [message, Hostile(f"valid after {index}", document(f"valid {run} {index}"))]
    return messages


def verdicts_of(messages: list[Hostile], settings: IngestSettings) -> list[Verdict]:
    """Computed before anything is sent: this test's own parsing must not stall the loop."""
    return [predicted(message, settings) for message in messages]


async def run_through_consumer(
    messages: list[Hostile],
    verdicts: list[Verdict],
    *,
    settings: IngestSettings,
    isolation: Isolation,
) -> tuple[list[Sent], dict[int, ConsumerRecord[bytes, bytes]], float]:
    incoming = isolation.topic(Topic.INCOMING)
    started = time.monotonic()
    offsets = await produce(incoming, messages)
    sent = [
        Sent(message, verdict, offset)
        for message, verdict, offset in zip(messages, verdicts, offsets, strict=True)
    ]
    last = offsets[-1] + 1

    async def all_committed() -> bool:
        return await committed_offsets(settings.consumer_group, incoming) >= last

    budget_s = 30 + len(messages) / 20
    assert await wait_for(all_committed, timeout_s=budget_s), "the partition kept moving"
    seconds = time.monotonic() - started
    rejected = sum(1 for item in sent if item.verdict.reason is not None)
    letters = await collect_messages(isolation.topic(Topic.DLQ), count=rejected, timeout_s=30)
    by_offset = {
        int(headers_of(letter)[DeadLetterHeader.SOURCE_OFFSET]): letter for letter in letters
    }
    assert len(by_offset) == len(letters) == rejected, "one dead letter per rejected message"
    return sent, by_offset, seconds


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in record.headers}


def dead_letter_problems(item: Sent, letter: ConsumerRecord[bytes, bytes], topic: str) -> list[str]:
    """What is wrong with a message's dead letter (nothing, when it is right)."""
    headers = headers_of(letter)
    original = item.message.value or b""
    truncated = headers.get(PAYLOAD_TRUNCATED_HEADER) == "true"  # only what cannot fit Kafka
    checks = {
        "error.type": headers[DeadLetterHeader.ERROR_TYPE] == item.verdict.reason,
        "error.message": item.message.says in headers[DeadLetterHeader.ERROR_MESSAGE],
        "source.topic": headers[DeadLetterHeader.SOURCE_TOPIC] == topic,
        "source.partition": headers[DeadLetterHeader.SOURCE_PARTITION] == str(PARTITION),
        "key": letter.key == item.message.key,
        "original bytes": (
            headers.get(PAYLOAD_BYTES_HEADER) == str(len(original))
            and original.startswith(letter.value)
            if truncated
            else letter.value == original
        ),
    }
    return [
        f"{item.message.case}: {name} ({headers[DeadLetterHeader.ERROR_TYPE]}: "
        f"{headers[DeadLetterHeader.ERROR_MESSAGE][:120]})"
        for name, ok in checks.items()
        if not ok
    ]


async def check_outcome(
    sent: list[Sent],
    letters: dict[int, ConsumerRecord[bytes, bytes]],
    *,
    isolation: Isolation,
    test_db: Any,
) -> None:
    topic = isolation.topic(Topic.INCOMING)
    problems: list[str] = []
    for item in sent:
        if item.verdict.reason is None:
            if item.offset in letters:
                problems.append(f"{item.message.case}: dead-lettered, not stored")
        else:
            problems += dead_letter_problems(item, letters[item.offset], topic)
    assert problems == []
    stored = {item.verdict.identity for item in sent if item.verdict.identity is not None}
    documents = test_db["documents"]
    assert await documents.count_documents({}) == len(stored), "every valid message is stored"
    found = {(doc["tenant_id"], doc["content_hash"]) async for doc in documents.find({})}
    assert found == stored


def check_quiet(logs: list[dict[str, Any]]) -> None:
    """Nothing logged an error or a stack trace, and no batch was read twice."""
    traces = [
        line
        for line in logs
        if ("exception" in line or line["level"] == "ERROR") and not _metadata_race(line)
    ]
    assert traces == [], "no stack trace or error for an expected rejection"
    retried = [line for line in logs if line["message"] == "incoming message will be redelivered"]
    assert retried == [], "no batch was read twice"


def _metadata_race(line: dict[str, Any]) -> bool:
    """aiokafka logs this at ERROR when the consumer asks for the test's new topic before the
    broker's metadata has it; it asks again and carries on. No message is involved."""
    return line.get("logger") == "aiokafka.cluster" and "not found in cluster metadata" in str(
        line.get("message")
    )


def check_one_join(logs: list[dict[str, Any]]) -> None:
    joins = [line for line in logs if line["message"].startswith(_JOINING)]
    assert len(joins) == 1, "the consumer joined its group once: no restart, no rebalance"


Fuzz = Callable[[str, list[Hostile]], Awaitable[None]]


@pytest.fixture
def fuzz(
    app: FastAPI,
    settings: IngestSettings,
    isolation: Isolation,
    test_db: Any,
    logs: list[dict[str, Any]],
) -> Fuzz:
    """Sends hostile messages through the app's consumer, interleaved with valid ones, checks
    the outcome and prints the figures."""

    async def run(label: str, hostile: list[Hostile]) -> None:
        messages = interleaved(hostile, run=isolation.suffix)
        verdicts = verdicts_of(messages, settings)
        async with loop_stalls() as longest:
            sent, letters, seconds = await run_through_consumer(
                messages, verdicts, settings=settings, isolation=isolation
            )
        await check_outcome(sent, letters, isolation=isolation, test_db=test_db)
        check_quiet(logs)
        check_one_join(logs)
        report(label, sent, seconds=seconds, longest_stall_s=longest[0])

    return run


async def test_every_known_hostile_message_is_dead_lettered_with_its_reason(
    fuzz: Fuzz, settings: IngestSettings, isolation: Isolation
) -> None:
    hostile = catalogue(settings, run=isolation.suffix)
    for message in hostile:  # the catalogue states each reason; the rules must agree
        assert predicted(message, settings).reason == message.reason, message.case
    await fuzz("catalogue", hostile)


async def test_random_hostile_messages_end_stored_or_dead_lettered_with_their_reason(
    fuzz: Fuzz, settings: IngestSettings
) -> None:
    await fuzz(f"random, seed {SEED}", list(random_messages(SEED, RANDOM_MESSAGES, settings)))


def report(run: str, sent: list[Sent], *, seconds: float, longest_stall_s: float) -> None:
    """One line of figures for the README's Reliability section (`pytest -s` shows it)."""
    outcomes = Counter(item.verdict.reason or "stored" for item in sent)
    print(
        f"\nupstream fuzz ({run}): {len(sent)} messages, {len(outcomes) - 1} dead-letter "
        f"reasons, {seconds:.1f} s, longest event-loop stall {longest_stall_s * 1000:.0f} ms; "
        f"{dict(outcomes.most_common())}"
    )


JAEGER_OTLP = "http://127.0.0.1:4318"  # deploy/local/infra.sh runs it (make test builds it)


def tracing_env() -> dict[str, str]:
    """Export spans when the local Jaeger answers: header propagation then runs for real."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:16686/api/services", timeout=2):
            pass
    except OSError:
        return {}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": JAEGER_OTLP, "OTEL_BSP_SCHEDULE_DELAY": "200"}


def process_env(settings: IngestSettings, isolation: Isolation) -> dict[str, str]:
    limits = {
        "MAX_CONTENT_CHARS": str(settings.max_content_chars),
        "MAX_MESSAGE_BYTES": str(settings.max_message_bytes),
        "INCOMING_BATCH_TIMEOUT_MS": str(settings.incoming_batch_timeout_ms),
        "LOG_LEVEL": "INFO",
    }
    return {**isolation.env(), **limits, **tracing_env()}


async def group_members(group_id: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group_id])
    finally:
        await admin.close()
    return [member[0] for group in described.groups for member in group[5]]


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            lines.append(orjson.loads(raw))
    return [line for line in lines if isinstance(line, dict) and "message" in line]


async def test_the_service_process_takes_the_catalogue_without_a_restart(
    settings: IngestSettings, isolation: Isolation, test_db: Any, tmp_path: Path
) -> None:
    """The real process, traced when Jaeger runs: the same member of its group, alive, quiet."""
    topics = [settings.topic(topic) for topic in Topic]
    await ensure_topics(settings, topics)
    await topics_led(topics)
    log_path = tmp_path / "ingest.log"
    service = ServiceProcess(
        "ingest", env=process_env(settings, isolation), port=free_port(), log_path=log_path
    )
    with service:

        async def joined() -> bool:
            return len(await group_members(settings.consumer_group)) == 1

        assert await wait_for(joined, timeout_s=60)
        (member,) = await group_members(settings.consumer_group)
        messages = interleaved(catalogue(settings, run=isolation.suffix), run=isolation.suffix)
        sent, letters, _ = await run_through_consumer(
            messages, verdicts_of(messages, settings), settings=settings, isolation=isolation
        )
        await check_outcome(sent, letters, isolation=isolation, test_db=test_db)
        assert await group_members(settings.consumer_group) == [member], "the same consumer"
        assert service.process is not None
        assert service.process.poll() is None, "the process is alive"
    check_quiet(json_lines(log_path))
    assert b"Traceback" not in log_path.read_bytes()


# Found by this fuzzing, not fixed here: the defect lives in aiokafka (see the reason).
@pytest.mark.xfail(
    strict=True,
    reason=(
        "aiokafka 0.14 decodes header names as strict UTF-8 in its record reader (Cython and "
        "Python), before docflow sees the record: every fetch raises UnicodeDecodeError, "
        "FastStream restarts the consume task forever and all the consumer's partitions stop"
    ),
)
async def test_a_header_name_that_is_not_utf8_is_dead_lettered_and_its_partition_moves(
    app: FastAPI,
    settings: IngestSettings,
    isolation: Isolation,
    test_db: Any,
    logs: list[dict[str, Any]],
) -> None:
    incoming = isolation.topic(Topic.INCOMING)
    value = document(f"header name {isolation.suffix}")
    before = Hostile("valid before", document(f"before {isolation.suffix}"))
    (first,) = await produce(incoming, [before])
    bad = await asyncio.to_thread(produce_with_raw_header_name, incoming, value, b"\xff\xfe")
    after = Hostile("valid after", document(f"after {isolation.suffix}"))
    (last,) = await produce(incoming, [after])
    assert (first, bad, last) == (0, 1, 2)

    async def all_committed() -> bool:
        return await committed_offsets(settings.consumer_group, incoming) >= 3

    assert await wait_for(all_committed, timeout_s=10), "the partition kept moving"
    (letter,) = await collect_messages(isolation.topic(Topic.DLQ), count=1, timeout_s=10)
    headers = headers_of(letter)
    assert headers[DeadLetterHeader.ERROR_TYPE] == "invalid_header"
    assert headers[DeadLetterHeader.SOURCE_OFFSET] == "1"
    assert letter.value == value
    assert await test_db["documents"].count_documents({}) == 2
    check_quiet(logs)
    check_one_join(logs)
