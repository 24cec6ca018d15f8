"""Runs one service's `run()` under pyinstrument and writes the profile when the service stops.

    python tests/perf/profiled.py --output PATH {ingest,query,analysis}

The benchmarks start a service through this script for `--profile`: the service itself carries
no profiling code. pyinstrument samples the main thread for the process's whole life; PATH gets
the top of the profile and PATH.full every frame, library internals included. Stop the process
with SIGTERM or SIGINT: the service shuts down gracefully, then the report is written.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path
from types import FrameType

from pyinstrument import Profiler

SAMPLE_INTERVAL_S = 0.0005
SERVICES = ("ingest", "query", "analysis")


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="where the report goes")
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args()
    run = importlib.import_module(f"docflow.{args.service}.main").run
    # uvicorn re-raises SIGTERM after its graceful shutdown, with the handler it found
    # installed: make that one exit through Python so the report below gets written.
    signal.signal(signal.SIGTERM, _exit)
    profiler = Profiler(interval=SAMPLE_INTERVAL_S, async_mode="disabled")
    profiler.start()
    try:
        run()
    except KeyboardInterrupt:  # SIGINT, re-raised by uvicorn once it has shut down
        pass
    finally:
        profiler.stop()
        args.output.write_text(profiler.output_text(unicode=False, color=False))
        full = profiler.output_text(unicode=False, color=False, show_all=True)
        Path(f"{args.output}.full").write_text(full)


if __name__ == "__main__":
    main()
