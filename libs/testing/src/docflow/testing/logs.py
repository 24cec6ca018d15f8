"""The JSON log lines a block of code writes, as the services write them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from docflow.common.logging import JsonFormatter


class _Collector(logging.Handler):
    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@contextmanager
def json_log_lines(service: str = "test") -> Iterator[list[dict[str, Any]]]:
    """Every line logged at INFO or above inside the block, parsed. Each is formatted when it
    is logged, as by the services' handler, so it carries that moment's request id and span."""
    lines: list[dict[str, Any]] = []
    collector = _Collector(lines)
    collector.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        root.removeHandler(collector)
        root.setLevel(previous_level)
