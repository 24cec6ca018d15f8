"""Runs one service's `run()` while recording where its memory goes, to tell a leak from the
allocator keeping freed memory:

    python tests/soak/memtrace.py --output DIR [--interval 30] [--baseline 240] {ingest,...}

The soak starts the services through this script for `--trace-memory` (SOAK_TRACE_MEMORY=1):
the service itself carries no tracing code. Every `--interval` seconds a thread appends one
JSON line to DIR/<service>.jsonl:

- `rss_mb`: the process's resident memory (what the soak judges);
- `traced_mb`: the bytes Python's allocators hand out (tracemalloc), objects alive now;
- `malloc_in_use_mb` / `malloc_free_mb`: glibc's view (mallinfo2, every arena): bytes in
  allocated chunks, and bytes freed but kept in its free lists; `malloc_arenas`: how many
  arenas it has (one per thread that ever competed for the main one, up to 8 per core);
- `threads`, and the ten most numerous Python object types (gc.get_objects).

A leak grows `traced_mb` (and the counts of some type) with RSS; an allocator that keeps what
bursts freed grows RSS and `malloc_free_mb` or `malloc_arenas` while `traced_mb` stays flat.
From `--baseline` seconds on, DIR/<service>-top.txt holds the 25 source lines whose live
allocations grew most since then (rewritten at each interval). SIGUSR1 appends one line with
RSS before and after `malloc_trim(0)`, the memory glibc could give back (the soak sends it
before stopping the services).

Under tracemalloc (`--frames` 1, the default) judge `traced_mb`, not RSS: tracemalloc's own
bookkeeping about doubles a service's RSS, and the baseline snapshot adds a step of tens of MB
(the snapshot is a copy of every trace). `--frames 0` keeps the allocator's figures true.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import os
import re
import resource
import signal
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

SERVICES = ("ingest", "query", "analysis")
MIB = 1024 * 1024
_PAGE = resource.getpagesize()


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _MallInfo2
_libc.fopen.restype = ctypes.c_void_p
_libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_libc.fclose.argtypes = [ctypes.c_void_p]
_libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / MIB


def malloc_arenas() -> int:
    """The arenas in glibc's malloc_info report (one `<heap nr=...>` each)."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as report:
        handle = _libc.fopen(report.name.encode(), b"w")
        _libc.malloc_info(0, handle)
        _libc.fclose(handle)
        return len(re.findall(rb"<heap nr=", Path(report.name).read_bytes()))


def record(started: float) -> dict[str, object]:
    info = _libc.mallinfo2()
    types = Counter(type(item).__name__ for item in gc.get_objects())
    return {
        "t_s": round(time.monotonic() - started, 1),
        "rss_mb": round(rss_mb(), 2),
        "traced_mb": round(tracemalloc.get_traced_memory()[0] / MIB, 2),
        "malloc_in_use_mb": round((info.uordblks + info.hblkhd) / MIB, 2),
        "malloc_free_mb": round(info.fordblks / MIB, 2),
        "malloc_arenas": malloc_arenas(),
        "threads": threading.active_count(),
        "objects": sum(types.values()),
        "top_types": dict(types.most_common(10)),
    }


def watch(output: Path, service: str, interval_s: float, baseline_s: float) -> None:
    started = time.monotonic()
    lines = output / f"{service}.jsonl"
    baseline: tracemalloc.Snapshot | None = None
    while True:
        time.sleep(interval_s)
        with lines.open("a") as handle:
            handle.write(json.dumps(record(started)) + "\n")
        if not tracemalloc.is_tracing() or time.monotonic() - started < baseline_s:
            continue
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if baseline is None:
            baseline = snapshot
            continue
        growth = snapshot.compare_to(baseline, "lineno")
        top = sorted(growth, key=lambda stat: stat.size_diff, reverse=True)[:25]
        elapsed = time.monotonic() - started
        text = "\n".join(str(stat) for stat in top)
        (output / f"{service}-top.txt").write_text(
            f"at {elapsed:.0f} s vs {baseline_s:.0f} s\n{text}\n"
        )
        del snapshot, growth, top  # only the baseline stays: a constant offset in traced_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="directory for the records")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between records")
    parser.add_argument("--baseline", type=float, default=240.0, help="seconds to the baseline")
    parser.add_argument(
        "--frames",
        type=int,
        default=int(os.environ.get("MEMTRACE_FRAMES", "1")),
        help="tracemalloc's frames per allocation (MEMTRACE_FRAMES); 0: no tracemalloc, whose "
        "own bookkeeping roughly doubles the RSS of a service",
    )
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    if args.frames > 0:
        tracemalloc.start(args.frames)
    started = time.monotonic()

    def trim(signum: int, frame: FrameType | None) -> None:
        before = rss_mb()
        _libc.malloc_trim(0)
        line = {"t_s": round(time.monotonic() - started, 1), "trim_before_mb": round(before, 2)}
        line["trim_after_mb"] = round(rss_mb(), 2)
        with (args.output / f"{args.service}.jsonl").open("a") as handle:
            handle.write(json.dumps(line) + "\n")

    signal.signal(signal.SIGUSR1, trim)
    thread = threading.Thread(
        target=watch,
        args=(args.output, args.service, args.interval, args.baseline),
        daemon=True,
        name="memtrace",
    )
    thread.start()
    importlib.import_module(f"docflow.{args.service}.main").run()


if __name__ == "__main__":
    main()
