"""An optional whole-process profile for benchmarks (`QUERY_PROFILE_PATH=...`).

pyinstrument samples the main thread for the process's whole life and writes its text report
when the server stops; imported only when asked for, since it is a development tool.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

_SAMPLE_INTERVAL_S = 0.0005


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


@contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    from pyinstrument import Profiler

    # uvicorn re-raises SIGTERM after its graceful shutdown, with the handler it found
    # installed: make that one exit through Python so the report below gets written.
    signal.signal(signal.SIGTERM, _exit)
    profiler = Profiler(interval=_SAMPLE_INTERVAL_S, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=False, color=False))
        # Every frame, library internals included, for digging further.
        full = profiler.output_text(unicode=False, color=False, show_all=True)
        Path(f"{path}.full").write_text(full)
