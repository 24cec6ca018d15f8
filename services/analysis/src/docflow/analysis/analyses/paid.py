"""Answers the provider gave, and billed, that are not stored yet.

When storing fails after the model answered (MongoDB down for a moment), the poll is handled
again; without these, its documents would be sent to the model a second time and paid for
twice. The answers wait here, in memory and bounded, until a store succeeds. A crash loses them
(the documented limit of `make chaos`: what a kill -9 catches between answer and store).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from docflow.analysis.providers.base import Analyzed

DEFAULT_CAPACITY = 10_000


class PaidAnswers:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[str, Analyzed] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def keep(self, answers: Mapping[str, Analyzed]) -> None:
        """Hold `answers` (by document id) until `drop`; the oldest go first past capacity."""
        for document_id, answer in answers.items():
            self._answers[document_id] = answer
            self._answers.move_to_end(document_id)
        while len(self._answers) > self._capacity:
            self._answers.popitem(last=False)

    def take(self, document_ids: Iterable[str]) -> dict[str, Analyzed]:
        """The held answers of these documents (they stay held until stored)."""
        return {i: self._answers[i] for i in document_ids if i in self._answers}

    def drop(self, document_ids: Iterable[str]) -> None:
        for document_id in document_ids:
            self._answers.pop(document_id, None)
