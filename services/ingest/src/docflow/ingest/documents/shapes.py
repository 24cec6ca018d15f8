"""Document bodies whose validation alone would hold an event loop, refused before pydantic.

A JSON object of 250,000 unknown fields fits in 2.9 MB, under the body limit; pydantic answers
it with 250,000 errors and rendering them held ingest's loop for about 6 s. A `metadata` of
250,000 keys validated for a second before its size was checked. Both shapes are caught here in
time linear in the field count and tiny per field, for REST bodies (submission.py), batch items
(batch.py) and upstream messages (upstream/parsing.py) alike.
"""

from __future__ import annotations

import heapq
from typing import Any

from docflow.common.events import IncomingDocument
from docflow.ingest.errors import InvalidMetadata
from docflow.ingest.settings import IngestSettings

FIELDS = frozenset(IncomingDocument.model_fields)
# Up to this many unknown fields, validation reports them (one error each); past it, the body
# is refused naming only these first ones.
LISTED_FIELDS = 5


def unknown_fields(payload: dict[str, Any]) -> tuple[int, list[str]]:
    """How many fields `payload` has that an IncomingDocument does not, and the first few."""
    unknown = payload.keys() - FIELDS
    return len(unknown), heapq.nsmallest(LISTED_FIELDS, unknown)  # no sort of 250,000 names


def metadata_too_large(keys: int, *, settings: IngestSettings) -> InvalidMetadata:
    return InvalidMetadata(
        f"metadata has {keys} keys; the limit is {settings.max_metadata_keys}.",
        code="metadata_too_large",
        details={"max_keys": settings.max_metadata_keys},
    )


def check_metadata_size(payload: dict[str, Any], *, settings: IngestSettings) -> None:
    metadata = payload.get("metadata")
    if isinstance(metadata, dict) and len(metadata) > settings.max_metadata_keys:
        raise metadata_too_large(len(metadata), settings=settings)


def too_many_fields(
    payload: dict[str, Any], *, loc: tuple[str, ...] = ()
) -> list[dict[str, Any]] | None:
    """Validation errors (pydantic's shape: type, loc, msg) naming the first few unknown
    fields, when `payload` has more than LISTED_FIELDS of them; None when validation may run."""
    count, listed = unknown_fields(payload)
    if count <= LISTED_FIELDS:
        return None
    errors: list[dict[str, Any]] = [
        {"type": "extra_forbidden", "loc": (*loc, name), "msg": "Extra inputs are not permitted"}
        for name in listed
    ]
    message = f"{count} unknown fields; the first {len(listed)} are listed"
    errors.append({"type": "too_many_fields", "loc": loc, "msg": message})
    return errors
