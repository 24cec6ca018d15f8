"""The soak runner: `python -m tests.soak [--duration 20m] [--sample 10s] ...` (`make soak`).

1. starts ingest, analysis (LLM_PROVIDER=local) and query as real processes on a private slice
   of the running Kafka, FerretDB and Redis, with the rate limits and tenant quotas out of the way;
2. seeds documents, so that reads and lists have data;
3. measures capacity: Locust users without waits, doubled each step, on the soak's own mix
   (traffic.py), until errors, a p95 over a second, or no more gain;
4. runs the mix at half that rate for the duration, sampling every interval (sampler.py);
5. prints the table and the verdict against the goals (report.py), writes the table (CSV and
   Markdown) and a PNG plot to the output directory; exits 1 when a goal fails.

Every option also reads an environment variable: SOAK_DURATION, SOAK_SAMPLE_S, SOAK_OUT, ...
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.soak import report
from tests.soak.sampler import Sample, Sampler
from tests.soak.stack import seed, start_stack

REPO = Path(__file__).resolve().parents[2]
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def seconds(text: str) -> float:
    """`90`, `30s`, `5m`, `1h` or `1.5m` as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 30s, 5m or 1h)")
    return float(match[1]) * _UNITS[match[2]]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--duration",
        type=seconds,
        default=seconds(env("SOAK_DURATION", "20m")),
        help="soak length after the ramp (SOAK_DURATION, default 20m)",
    )
    parser.add_argument(
        "--sample",
        type=seconds,
        default=seconds(env("SOAK_SAMPLE_S", "10")),
        help="sampling interval (SOAK_SAMPLE_S, default 10 s)",
    )
    parser.add_argument(
        "--seed-documents", type=int, default=int(env("SOAK_SEED_DOCUMENTS", "300"))
    )
    parser.add_argument(
        "--ramp-step",
        type=seconds,
        default=seconds(env("SOAK_RAMP_STEP_S", "15")),
        help="length of each capacity step (SOAK_RAMP_STEP_S, default 15 s)",
    )
    parser.add_argument("--max-users", type=int, default=int(env("SOAK_MAX_USERS", "64")))
    parser.add_argument(
        "--rate",
        type=float,
        default=float(env("SOAK_RATE", "0")),
        help="requests/s to soak at, skipping the capacity ramp (SOAK_RATE)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(env("SOAK_OUT", str(REPO / ".cache" / "soak")))
    )
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        default=env("SOAK_TRACE_MEMORY", "") not in ("", "0"),
        help="run the services under tests/soak/memtrace.py (SOAK_TRACE_MEMORY=1): Python "
        "heap, glibc arenas and growing source lines, next to the logs",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="a smoke run: check failures only, too short for a warm-up",
    )
    return parser.parse_args(argv)


def _commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Here, not at the top: Locust monkey-patches the whole process for gevent on import, which
    # only the runner's own process may suffer (not pytest, which imports `seconds`).
    from tests.soak import traffic

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    stack = start_stack(args.out / f"logs-{stamp}", trace_memory=args.trace_memory)
    try:
        print(
            f"soak: stack up (database {stack.isolation.database}); seeding {args.seed_documents}"
        )
        seed(stack, documents=args.seed_documents)
        env = traffic.environment(stack)
        if args.rate > 0:
            rate, users = args.rate, 4
        else:
            capacity = traffic.measure_capacity(
                env, step_s=args.ramp_step, max_users=args.max_users
            )
            rate, users = capacity.rps / 2, capacity.users
            print(f"soak: capacity {capacity.rps:.1f} req/s at {capacity.users} users")
        print(
            f"soak: {rate:.1f} req/s for {args.duration:.0f} s, a sample every {args.sample:.0f} s"
        )
        traffic.run_at_rate(env, rps=rate, users=users)
        sampler = Sampler(
            stack.processes, lambda: (env.stats.total.num_requests, env.stats.total.num_failures)
        )
        header = report.COLUMNS
        print(" | ".join(header))

        def show(sample: Sample) -> None:
            print(" | ".join(report.row(sample)), flush=True)

        sampler.run(duration_s=args.duration, interval_s=args.sample, on_sample=show)
        assert env.runner is not None
        env.runner.quit()
        errors = {
            f"{e.method} {e.name}: {e.error}": e.occurrences for e in env.stats.errors.values()
        }
    finally:
        if args.trace_memory:
            stack.trim_memory()
        stack.stop()
    samples = sampler.samples
    results = report.verdicts(samples, steady_state=not args.short)
    title = f"docflow soak {stamp}, commit {_commit()}, {rate:.1f} req/s"
    table = report.markdown(header, [report.row(s) for s in samples])
    summary = report.summary_markdown(results)
    base = args.out / f"soak-{stamp}"
    report.write_csv(samples, base.with_suffix(".csv"))
    base.with_suffix(".md").write_text(f"# {title}\n\n{summary}\n\n{table}\n")
    report.plot(samples, base.with_suffix(".png"), title=title)
    print(f"\n{title}\n\n{table}\n\n{summary}")
    for error, count in errors.items():
        print(f"soak: {count} x {error}")
    print(f"\nsoak: {base}.md, .csv and .png")
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
