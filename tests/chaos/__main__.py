"""`python -m tests.chaos`: the whole fault drill on a private cluster, one table at the end.

    python -m tests.chaos                      # the full drill (about an hour)
    python -m tests.chaos --scale short        # what `make test` runs
    python -m tests.chaos --only kafka redis   # some scenarios, by tag

The table (Markdown) is printed and written to .cache/chaos/; the exit status is 1 when a
scenario lost, duplicated, failed or paid twice for anything, or did not recover.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docflow.testing.servers import REPO
from tests.chaos.cluster import Cluster
from tests.chaos.scenarios import FULL, SCENARIOS, SHORT, Row, run, table


def _commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


async def drill(cluster: Cluster, scale_name: str, only: list[str]) -> list[Row]:
    scale = FULL if scale_name == "full" else SHORT
    rows = []
    for scenario in SCENARIOS:
        if only and scenario.tag not in only:
            continue
        started = time.monotonic()
        print(f"chaos: {scenario.name} ...", flush=True)
        row = await run(cluster, scale, scenario)
        verdict = "clean" if row.clean else "NOT CLEAN"
        print(f"chaos: {scenario.name}: {verdict} ({time.monotonic() - started:.0f} s)")
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("short", "full"), default="full")
    parser.add_argument("--only", nargs="*", default=[], help="scenario tags")
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and data here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="docflow-chaos-"))
    print(f"chaos: private cluster in {workdir} (logs of every process there)", flush=True)
    cluster = Cluster.create(workdir)
    try:
        cluster.start()
        rows = asyncio.run(drill(cluster, args.scale, args.only))
    finally:
        cluster.stop()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = f"Fault drill ({args.scale}), {stamp}, commit {_commit()}\n\n{table(rows)}\n"
    print("\n" + report)
    out = REPO / ".cache" / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"chaos-{args.scale}-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M}.md"
    path.write_text(report)
    print(f"chaos: table written to {path}")
    return 0 if all(row.clean for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
