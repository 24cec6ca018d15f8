"""The entry format: a response's `data` already serialized to JSON, behind a fixed header.

The 27-byte header holds found or not-found, the moment the entry goes stale, and its ETag. A
hit is one `GET` and a few byte slices: no JSON is parsed or encoded, and the ETag is not
recomputed.
"""

from __future__ import annotations

import hashlib
import struct
import time
from dataclasses import dataclass

_FOUND = b"F"
_MISSING = b"M"
# kind (1 byte), fresh-until as a unix time (8-byte double), quoted ETag (18 bytes).
_HEADER = struct.Struct("!cd18s")


def compute_etag(data: bytes) -> bytes:
    """A strong ETag of the response data (not the envelope, whose request id varies)."""
    return b'"' + hashlib.blake2b(data, digest_size=8).hexdigest().encode() + b'"'


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached (or freshly computed) answer: the data bytes, or not-found."""

    found: bool
    data: bytes
    etag: bytes
    fresh_until: float

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def pack(self) -> bytes:
        kind = _FOUND if self.found else _MISSING
        return _HEADER.pack(kind, self.fresh_until, self.etag) + self.data


def new_entry(data: bytes | None, *, fresh_for_s: float) -> Entry:
    fresh_until = time.time() + fresh_for_s
    if data is None:
        return Entry(found=False, data=b"", etag=b'""', fresh_until=fresh_until)
    return Entry(found=True, data=data, etag=compute_etag(data), fresh_until=fresh_until)


def unpack(raw: bytes) -> Entry | None:
    """The entry stored in `raw`, or None when it is not one of ours (e.g. an older format)."""
    if len(raw) < _HEADER.size:
        return None
    kind, fresh_until, etag = _HEADER.unpack_from(raw)
    if kind != _FOUND and kind != _MISSING:
        return None
    return Entry(found=kind == _FOUND, data=raw[_HEADER.size :], etag=etag, fresh_until=fresh_until)
