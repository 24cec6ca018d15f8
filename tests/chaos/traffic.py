"""The drill's clients: writers that retry as the README tells clients to, and readers.

A writer sends each document (or batch, or upload) with its own `Idempotency-Key` and sends the
very same request again, key included, after a connection error, a 5xx, a 409 (the first attempt
still in progress) or a 429, until it gets an answer it can keep. A document counts as
acknowledged once the client holds a 2xx with its id: only those are owed.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

Kind = Literal["single", "batch", "upload"]
RETRYABLE = {409, 429, 500, 502, 503, 504}
BATCH_SIZE = 5


@dataclass
class ClientLedger:
    """What the clients saw: the ids they hold, and every answer that was not a success."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # document id -> ref
    sent: set[str] = field(default_factory=set)  # every ref a client tried to write
    retries: Counter[str] = field(default_factory=Counter)  # why a request was sent again
    rejected: Counter[str] = field(default_factory=Counter)  # final non-2xx answers
    reads: Counter[str] = field(default_factory=Counter)  # read outcomes
    last_failure: float = 0.0  # monotonic time of the latest failed attempt of any client

    def failure(self, reason: str) -> None:
        self.retries[reason] += 1
        self.last_failure = time.monotonic()


def document_text(ref: str) -> str:
    """Distinct content per ref (so no two are duplicates), long enough to be worth analyzing."""
    rng = random.Random(ref)
    words = rng.sample(WORDS, 12)
    return f"Drill record {ref}. The quarterly {words[0]} report shows {' '.join(words[1:])}."


WORDS = [
    *("growth", "revenue", "decline", "partner", "contract", "delivery", "invoice", "customer"),
    *("support", "outage", "release", "budget", "forecast", "audit", "review", "market"),
    *("hiring", "churn", "pricing", "roadmap", "migration", "security", "incident", "backlog"),
    *("latency", "capacity", "vendor", "renewal", "compliance", "training", "feedback", "quality"),
]


class Writer:
    def __init__(
        self,
        client: httpx.AsyncClient,
        ledger: ClientLedger,
        *,
        tag: str,
        kind: Kind,
        give_up_s: float,
        pause_s: float,
    ) -> None:
        self.client, self.ledger, self.tag, self.kind = client, ledger, tag, kind
        self.give_up_s, self.pause_s = give_up_s, pause_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.write_one()
            await asyncio.sleep(self.pause_s)

    def _ref(self) -> str:
        return f"ref{self.tag}n{uuid.uuid4().hex[:10]}"

    def _request(self) -> tuple[list[str], dict[str, Any]]:
        if self.kind == "single":
            ref = self._ref()
            body = {"content": document_text(ref), "title": ref, "source": "chaos"}
            return [ref], {"url": "/v1/documents", "json": body}
        if self.kind == "batch":
            refs = [self._ref() for _ in range(BATCH_SIZE)]
            items = [{"content": document_text(r), "title": r, "source": "chaos"} for r in refs]
            return refs, {"url": "/v1/documents/batch", "json": {"documents": items}}
        ref = self._ref()
        upload = {"file": (f"{ref}.txt", document_text(ref).encode(), "text/plain")}
        return [ref], {"url": "/v1/documents/upload", "files": upload, "data": {"title": ref}}

    async def write_one(self) -> None:
        refs, request = self._request()
        self.ledger.sent.update(refs)
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + self.give_up_s
        delay = 0.1
        while True:
            try:
                response = await self.client.post(headers=headers, **request)
            except httpx.TransportError as exc:
                self.ledger.failure(type(exc).__name__)
            else:
                if response.status_code < 300:
                    self._keep(refs, response.json()["data"])
                    return
                if response.status_code not in RETRYABLE:
                    self.ledger.rejected[f"{response.status_code} {_code(response)}"] += 1
                    return
                self.ledger.failure(f"{response.status_code} {_code(response)}")
            if time.monotonic() > deadline:
                self.ledger.rejected["gave up"] += 1
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _keep(self, refs: list[str], data: Any) -> None:
        if self.kind == "batch":
            for ref, item in zip(refs, data["items"], strict=True):
                if item["success"]:
                    self.ledger.acknowledged[item["id"]] = ref
                else:
                    self.ledger.rejected[f"item {item['error']['code']}"] += 1
            return
        self.ledger.acknowledged[data["id"]] = refs[0]


class Reader:
    """Reads documents by id and list pages, as a dashboard would."""

    def __init__(self, client: httpx.AsyncClient, ledger: ClientLedger, pause_s: float) -> None:
        self.client, self.ledger, self.pause_s = client, ledger, pause_s
        self.first_success_after: float | None = None  # set by the scenario, then filled

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            ids = list(self.ledger.acknowledged)
            url = f"/v1/documents/{random.choice(ids)}" if ids else "/v1/documents?limit=20"
            try:
                response = await self.client.get(url)
            except httpx.TransportError as exc:
                self.ledger.reads[type(exc).__name__] += 1
            else:
                self.ledger.reads[str(response.status_code)] += 1
                if response.status_code >= 500:
                    self.ledger.last_failure = time.monotonic()
            await asyncio.sleep(self.pause_s)


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"
