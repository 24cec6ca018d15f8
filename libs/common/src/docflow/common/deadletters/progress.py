"""A one-line progress bar on stderr (no dependency: the commands need nothing more)."""

from __future__ import annotations

import sys
from typing import TextIO

_WIDTH = 30


class ProgressBar:
    """`bar(done)` redraws `label [#####.....] done/total`; `close()` ends the line."""

    def __init__(self, total: int, *, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr

    def __call__(self, done: int) -> None:
        filled = _WIDTH * done // self.total if self.total else _WIDTH
        bar = "#" * filled + "." * (_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
