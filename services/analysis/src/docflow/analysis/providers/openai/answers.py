"""Reading a model's answer: one validated result per document index, or the reason why not."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from docflow.analysis.providers.base import DocumentResult
from docflow.common.documents import Usage
from docflow.common.sanitize import sanitize_line, sanitize_text

# What is stored of one answer: a model's output is as untrusted as a user's document, and a
# runaway answer must not grow the stored analysis. Over-long values are cut, surplus items
# dropped; DocumentResult still rejects what is not of the right shape.
MAX_SUMMARY_CHARS = 4000
MAX_LABEL_CHARS = 100  # a keyword or a category
MAX_ENTITY_TEXT_CHARS = 200
MAX_ENTITY_TYPE_CHARS = 50
MAX_KEYWORDS = 30
MAX_ENTITIES = 50
MAX_CATEGORIES = 10
# Markup only shrinks when stripped: a value is cut to this multiple of its limit before it
# is cleaned, so a huge answer costs the sanitizer no more than a long one.
_PRECUT_FACTOR = 4


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
        fields = _bounded_fields({k: v for k, v in item.items() if k != "index"})
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


def _line(value: Any, limit: int) -> Any:
    """A cleaned, cut one-line string; anything else is left for validation to refuse."""
    if not isinstance(value, str):
        return value
    return sanitize_line(value[: limit * _PRECUT_FACTOR])[:limit].rstrip()


def _labels(values: Any, *, limit: int, count: int) -> Any:
    if not isinstance(values, list):
        return values
    cleaned = (_line(value, limit) for value in values)
    return [value for value in cleaned if value != ""][:count]


def _entities(entities: Any) -> Any:
    if not isinstance(entities, list):
        return entities
    bounded: list[Any] = []
    for entity in entities:
        if isinstance(entity, dict):
            text = _line(entity.get("text"), MAX_ENTITY_TEXT_CHARS)
            if text == "":
                continue  # nothing but markup: no entity, and no reason to refuse the result
            entity = {
                **entity,
                "text": text,
                "type": _line(entity.get("type"), MAX_ENTITY_TYPE_CHARS),
            }
        bounded.append(entity)
    return bounded[:MAX_ENTITIES]


def _bounded_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """One result's fields with markup and control characters stripped and lengths capped."""
    bounded = dict(fields)
    summary = fields.get("summary")
    if isinstance(summary, str):
        cut = summary[: MAX_SUMMARY_CHARS * _PRECUT_FACTOR]
        bounded["summary"] = sanitize_text(cut)[:MAX_SUMMARY_CHARS].rstrip()
    if "keywords" in fields:
        bounded["keywords"] = _labels(fields["keywords"], limit=MAX_LABEL_CHARS, count=MAX_KEYWORDS)
    if "categories" in fields:
        bounded["categories"] = _labels(
            fields["categories"], limit=MAX_LABEL_CHARS, count=MAX_CATEGORIES
        )
    if "entities" in fields:
        bounded["entities"] = _entities(fields["entities"])
    return bounded


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
