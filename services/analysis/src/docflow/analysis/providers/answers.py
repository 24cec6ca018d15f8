"""Reading a model's answer: one validated result per document index, or the reason why not."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from docflow.analysis.providers.base import DocumentResult


class MalformedAnswer(ValueError):
    """The answer as a whole is unusable (not JSON, or no `results` list)."""


def parse_results(content: str | None, *, count: int) -> dict[int, DocumentResult | str]:
    """Map index -> result, or index -> reason for each of `count` documents.

    Each result is validated on its own, so one invalid result does not cost its neighbours.
    """
    if not content:
        raise MalformedAnswer("empty answer")
    try:
        data: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise MalformedAnswer("answer is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise MalformedAnswer("answer has no `results` list")
    found: dict[int, DocumentResult | str] = {}
    for item in data["results"]:
        if not isinstance(item, dict) or not isinstance(item.get("index"), int):
            continue
        index = item["index"]
        if not 0 <= index < count or index in found:
            continue
        fields = {k: v for k, v in item.items() if k != "index"}
        try:
            found[index] = DocumentResult.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
            )
            found[index] = f"invalid result: {problems}"
    for index in range(count):
        found.setdefault(index, "result missing from the answer")
    return found
