"""Zip bombs: what a DOCX (a zip) may unpack to, checked before any parser opens it.

The central directory states each member's sizes, but a header can lie, so the members are
also inflated once, counted chunk by chunk, and refused as soon as a count passes its cap.
Then the parser runs on an archive whose every member is known to be within bounds. Runs in
the extraction worker, like the parser.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from docflow.ingest.uploads.failures import ExtractionFailed

_CHUNK = 64 * 1024
# The compression ratio only counts for members this large: a small, very compressible part
# (styles, settings) costs nothing however well it compresses.
_RATIO_FLOOR = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    max_ratio: int


def check_archive(archive: zipfile.ZipFile, limits: ArchiveLimits) -> None:
    """Raise ExtractionFailed(archive_too_large) when any stated or counted size is too big."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise _refused(f"{len(members)} files; the limit is {limits.max_members}")
    stated = 0
    for info in members:
        _check_stated(info, limits)
        stated += info.file_size
        if stated > limits.max_total_bytes:
            raise _refused(f"more than {limits.max_total_bytes} bytes in all")
    inflated = 0
    for info in members:
        inflated += _inflated_size(archive, info, limits, room=limits.max_total_bytes - inflated)


def _check_stated(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    if info.file_size > limits.max_member_bytes:
        raise _refused(
            f"{info.file_size} bytes in one file; the limit is {limits.max_member_bytes}"
        )
    if info.file_size > _RATIO_FLOOR and info.file_size > info.compress_size * limits.max_ratio:
        ratio = info.file_size // max(info.compress_size, 1)
        raise _refused(f"a file compressed {ratio}:1; the limit is {limits.max_ratio}:1")


def _inflated_size(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits, *, room: int
) -> int:
    """The member's real size, counted while inflating; refused as soon as it is too big."""
    cap = min(limits.max_member_bytes, room)
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise _refused(f"a file that inflates past {cap} bytes")
    return size


def _refused(what: str) -> ExtractionFailed:
    return ExtractionFailed("archive_too_large", f"The archive unpacks to {what}.")


def open_checked(data: bytes, limits: ArchiveLimits) -> zipfile.ZipFile:
    """The zip, once its members are known to be within the limits."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    try:
        check_archive(archive, limits)
    except BaseException:
        archive.close()
        raise
    return archive
