"""A dead letter as an operator sees it, and the selection of the ones to show or replay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from docflow.common.events import REQUEST_ID_HEADER, DeadLetterHeader
from docflow.common.kafka import PAYLOAD_TRUNCATED_HEADER

# The headers a dead letter is shown with, in this order.
SHOWN_HEADERS = (*(header.value for header in DeadLetterHeader), REQUEST_ID_HEADER)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic: where it sits, and the original message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for header_name, value in self.headers:
            if header_name == name:
                return value.decode("utf-8", "replace")
        return ""

    @property
    def error_type(self) -> str:
        return self.header(DeadLetterHeader.ERROR_TYPE) or "(none)"

    @property
    def source_topic(self) -> str:
        return self.header(DeadLetterHeader.SOURCE_TOPIC) or "(none)"

    @property
    def truncated(self) -> bool:
        """The dead letter kept only the start of an oversized message: nothing to replay."""
        return self.header(PAYLOAD_TRUNCATED_HEADER) == "true"

    @property
    def ledger_id(self) -> str:
        """Where it sits in the dead-letter topic: what a replay is recorded under."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def document_id(self) -> str | None:
        """The document id the original message names (a DocumentIngested does); else None."""
        try:
            payload = orjson.loads(self.value)
        except orjson.JSONDecodeError:
            return None
        document_id = payload.get("document_id") if isinstance(payload, dict) else None
        return document_id if isinstance(document_id, str) else None


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters to show or replay; every given criterion must match."""

    error_type: str | None = None
    source_topic: str | None = None
    partition: int | None = None
    first_offset: int | None = None
    last_offset: int | None = None
    document_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__slots__)

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.error_type is None or letter.error_type == self.error_type)
            and (self.source_topic is None or letter.source_topic == self.source_topic)
            and (self.partition is None or letter.partition == self.partition)
            and (self.first_offset is None or letter.offset >= self.first_offset)
            and (self.last_offset is None or letter.offset <= self.last_offset)
            and (self.document_id is None or letter.document_id == self.document_id)
        )


def parse_offsets(text: str) -> tuple[int, int]:
    """`10-20` (inclusive), `10-` (from 10 on) or `10` (that one offset)."""
    first, dash, last = text.partition("-")
    if not first.strip().isdigit() or (last.strip() and not last.strip().isdigit()):
        raise ValueError(f"offsets must read N, N- or N-M, not {text!r}")
    start = int(first)
    end = int(last) if last.strip() else (2**63 - 1 if dash else start)
    if end < start:
        raise ValueError(f"offset range {text!r} ends before it starts")
    return start, end


def summarize(letters: Iterable[DeadLetter]) -> Counter[tuple[str, str]]:
    """How many dead letters per (source topic, error type)."""
    return Counter((letter.source_topic, letter.error_type) for letter in letters)


def clip(text: str, width: int) -> str:
    """One display line: newlines shown as spaces, cut to `width` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
