"""Sending dead letters back to the topic they came from, once each.

Order per dead letter: publish, then record it in the ledger. A crash in between replays it
again next time, which the consumers absorb: ingest stores a content once per tenant (a
replayed `documents.incoming` message that was stored meanwhile is a duplicate), analysis
keys its analyses by document and prompt version. The ledger is what keeps a second replay
from sending anything at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from docflow.common.clients import MongoDocument
from docflow.common.deadletters import repository
from docflow.common.deadletters.letters import DeadLetter
from docflow.common.events import DeadLetterHeader, Topic
from docflow.common.kafka import PAYLOAD_BYTES_HEADER, PAYLOAD_TRUNCATED_HEADER
from docflow.common.settings import CommonSettings

# Topics a dead letter may go back to: those whose consumers dead-letter (and are idempotent).
REPLAYABLE = (Topic.INCOMING, Topic.INGESTED)
# The replayed message names the dead letter it came from, for whoever reads it next.
REPLAYED_FROM_HEADER = "dlq.replayed-from"
# What the dead-lettering added; the replayed message goes back without it.
_ADDED_HEADERS = {
    *(header.value for header in DeadLetterHeader),
    PAYLOAD_TRUNCATED_HEADER,
    PAYLOAD_BYTES_HEADER,
    REPLAYED_FROM_HEADER,
}


@dataclass(slots=True)
class ReplayReport:
    replayed: list[DeadLetter] = field(default_factory=list)
    already_replayed: list[DeadLetter] = field(default_factory=list)
    refused: list[tuple[DeadLetter, str]] = field(default_factory=list)


def refusal(letter: DeadLetter, settings: CommonSettings) -> str | None:
    """Why `letter` cannot be replayed, or None when it can."""
    if letter.truncated:
        return "the dead letter holds only the start of the message"
    if letter.source_topic not in {settings.topic(topic) for topic in REPLAYABLE}:
        return f"source topic {letter.source_topic!r} is not one docflow replays to"
    return None


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    kept = [(name, value) for name, value in letter.headers if name not in _ADDED_HEADERS]
    return [*kept, (REPLAYED_FROM_HEADER, letter.ledger_id.encode())]


async def replay(
    letters: Sequence[DeadLetter],
    *,
    settings: CommonSettings,
    db: AsyncDatabase[MongoDocument],
    producer: AIOKafkaProducer | None,
    progress: Callable[[int], None] = lambda done: None,
) -> ReplayReport:
    """Replay each letter not replayed before; `producer=None` is a dry run (nothing is sent
    or recorded, the report says what would be)."""
    report = ReplayReport()
    done = await repository.already_replayed(db, (letter.ledger_id for letter in letters))
    for position, letter in enumerate(letters, start=1):
        reason = refusal(letter, settings)
        if reason is not None:
            report.refused.append((letter, reason))
        elif letter.ledger_id in done:
            report.already_replayed.append(letter)
        else:
            if producer is not None:
                await producer.send_and_wait(
                    letter.source_topic,
                    letter.value,
                    key=letter.key,
                    headers=replay_headers(letter),
                )
                await repository.record_replay(db, letter, request_id=letter.header("x-request-id"))
            report.replayed.append(letter)
        progress(position)
    return report
