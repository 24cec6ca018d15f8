"""Reading a model's answer: one validated result per document index, or the reason why not."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from docflow.analysis.providers.base import DocumentResult
from docflow.common.documents import Usage


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


def split_usage(weights: list[int], *, prompt: int, completion: int) -> list[Usage]:
    """Split a request's usage over its documents: prompt by each one's weight (its share of
    the document tokens), completion evenly. The shares add up to the request's usage."""
    total = sum(weights) or 1
    count = len(weights)
    shares = [
        Usage(prompt_tokens=prompt * w // total, completion_tokens=completion // count)
        for w in weights
    ]
    # Rounding remainders go to the first document so nothing is lost from the totals.
    shares[0].prompt_tokens += prompt - sum(s.prompt_tokens for s in shares)
    shares[0].completion_tokens += completion - sum(s.completion_tokens for s in shares)
    return shares
