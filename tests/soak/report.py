"""The soak's table, its verdict against the goals, and its plot.

Warm-up: the first WARMUP_SHARE of the run (caches fill, pools open, the capacity ramp's backlog
drains). RSS growth compares the median of the last three samples with the median of three
samples around the warm-up's end, for the service's own process; descriptors compare the same
two medians. The slope of each service's RSS over the second half of the run (least squares)
tells growth that stopped (a step after a burst, then flat) from growth that goes on (a leak).
Re-judge a run's CSV with the rules as they are now: `python -m tests.soak.report <run>.csv`.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

from tests.soak.sampler import Sample, ServiceSample

WARMUP_SHARE = 0.2
RSS_GROWTH_LIMIT = 0.10
RSS_SLOPE_LIMIT = 0.10  # of the service's RSS, per hour, fitted over the run's second half
FD_TOLERANCE = 10  # descriptors: a pool connection opened late is not a leak
_WINDOW = 3


@dataclass(frozen=True)
class Verdict:
    goal: str
    measured: str
    passed: bool


def _median(window: list[Sample], value: str, service: str) -> float:
    return float(statistics.median(getattr(sample.services[service], value) for sample in window))


def warmup_end(samples: list[Sample]) -> int:
    """The index of the first sample past the warm-up."""
    cutoff = samples[-1].t_s * WARMUP_SHARE
    return next(index for index, sample in enumerate(samples) if sample.t_s >= cutoff)


def second_half_slope(samples: list[Sample], service: str) -> float:
    """The least-squares slope of the service's own RSS over the run's second half, in MB an
    hour: a leak keeps a slope, memory that settles after a burst (a step, then flat) does not."""
    half = [s for s in samples if s.t_s >= samples[-1].t_s / 2]
    if len(half) < 2:
        return 0.0
    times = [s.t_s / 3600 for s in half]
    if len(set(times)) < 2:
        return 0.0
    fit = statistics.linear_regression(times, [s.services[service].rss_mb for s in half])
    return fit.slope


def verdicts(samples: list[Sample], *, steady_state: bool) -> list[Verdict]:
    """Errors always; RSS and descriptors only when `steady_state` (a run long enough for it)."""
    failures = samples[-1].failures
    result = [Verdict("no failed request", f"{failures} of {samples[-1].requests}", failures == 0)]
    if not steady_state:
        return result
    start = warmup_end(samples)
    around_start, last = samples[max(start - 1, 0) : start + 2], samples[-_WINDOW:]
    for service in samples[0].services:
        # The service's own process: its workers are recycled (reported, not judged), and a
        # replaced worker's drop would hide the parent's growth in a sum.
        before = _median(around_start, "rss_mb", service)
        after = _median(last, "rss_mb", service)
        growth = after / before - 1
        result.append(
            Verdict(
                f"{service}: RSS growth after warm-up < {RSS_GROWTH_LIMIT:.0%}",
                f"{before:.1f} -> {after:.1f} MB ({growth:+.1%})",
                growth < RSS_GROWTH_LIMIT,
            )
        )
        # Growth that stopped (a burst's step) and growth that goes on (a leak) read apart.
        slope = second_half_slope(samples, service)
        hourly = slope / after
        result.append(
            Verdict(
                f"{service}: no RSS slope in the second half (< {RSS_SLOPE_LIMIT:.0%} an hour)",
                f"{slope:+.1f} MB/h ({hourly:+.1%} an hour)",
                hourly < RSS_SLOPE_LIMIT,
            )
        )
        fds_before = _median(around_start, "fds", service)
        fds_after = _median(last, "fds", service)
        result.append(
            Verdict(
                f"{service}: descriptors flat (within {FD_TOLERANCE})",
                f"{fds_before:.0f} -> {fds_after:.0f}",
                abs(fds_after - fds_before) <= FD_TOLERANCE,
            )
        )
    return result


COLUMNS = ["t s", *(f"{s} MB" for s in ("ingest", "ingest workers", "analysis", "query"))]
COLUMNS += [*(f"{s} fds" for s in ("ingest", "analysis", "query"))]
COLUMNS += ["loop lag ms", "kafka lag", "req/s", "errors"]


def row(sample: Sample) -> list[str]:
    ingest, analysis, query = (sample.services[s] for s in ("ingest", "analysis", "query"))
    return [
        f"{sample.t_s:.0f}",
        f"{ingest.rss_mb:.1f}",
        f"{ingest.workers_rss_mb:.1f} ({ingest.workers})",
        f"{analysis.total_rss_mb:.1f}",
        f"{query.total_rss_mb:.1f}",
        str(ingest.fds),
        str(analysis.fds),
        str(query.fds),
        f"{sample.loop_lag_ms:.1f}",
        str(sample.kafka_lag),
        f"{sample.rps:.1f}",
        str(sample.failures),
    ]


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def summary_markdown(results: list[Verdict]) -> str:
    rows = [[v.goal, v.measured, "pass" if v.passed else "FAIL"] for v in results]
    return markdown(["goal", "measured", ""], rows)


def write_csv(samples: list[Sample], path: Path) -> None:
    services = list(samples[0].services)
    fields = ["rss_mb", "workers_rss_mb", "workers", "fds", "loop_lag_ms", "kafka_lag"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["t_s", *(f"{s}_{f}" for s in services for f in fields), "requests", "failures", "rps"]
        )
        for sample in samples:
            values = [getattr(sample.services[s], f) for s in services for f in fields]
            writer.writerow(
                [
                    f"{sample.t_s:.1f}",
                    *values,
                    sample.requests,
                    sample.failures,
                    f"{sample.rps:.2f}",
                ]
            )


def plot(samples: list[Sample], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    minutes = [sample.t_s / 60 for sample in samples]
    figure, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
    memory, descriptors, lags, traffic = axes
    for service in samples[0].services:
        memory.plot(minutes, [s.services[service].total_rss_mb for s in samples], label=service)
        descriptors.plot(minutes, [s.services[service].fds for s in samples], label=service)
        lags.plot(minutes, [s.services[service].loop_lag_ms for s in samples], label=service)
    memory.set_ylabel("RSS MB (with workers)")
    descriptors.set_ylabel("open descriptors")
    lags.set_ylabel("event-loop lag ms (max 10 s)")
    kafka = lags.twinx()
    kafka.plot(minutes, [s.kafka_lag for s in samples], color="grey", linestyle="--")
    kafka.set_ylabel("Kafka lag (dashed)")
    traffic.plot(minutes, [s.rps for s in samples], label="req/s")
    traffic.plot(minutes, [s.failures for s in samples], label="errors (total)", color="red")
    traffic.set_ylabel("requests")
    traffic.set_xlabel("minutes")
    warmup_minutes = samples[warmup_end(samples)].t_s / 60
    for axis in axes:
        axis.axvline(warmup_minutes, color="black", linewidth=0.5, linestyle=":")
        axis.legend(loc="upper left", fontsize="small")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def read_csv(path: Path) -> list[Sample]:
    """The samples of a run, as write_csv wrote them."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    services = [name.removesuffix("_rss_mb") for name in rows[0] if name.endswith("_rss_mb")]
    services = [name for name in services if not name.endswith("_workers")]
    return [
        Sample(
            t_s=float(row["t_s"]),
            services={
                s: ServiceSample(
                    rss_mb=float(row[f"{s}_rss_mb"]),
                    workers_rss_mb=float(row[f"{s}_workers_rss_mb"]),
                    workers=int(row[f"{s}_workers"]),
                    fds=int(row[f"{s}_fds"]),
                    loop_lag_ms=float(row[f"{s}_loop_lag_ms"]),
                    kafka_lag=int(row[f"{s}_kafka_lag"]),
                )
                for s in services
            },
            requests=int(row["requests"]),
            failures=int(row["failures"]),
            rps=float(row["rps"]),
        )
        for row in rows
    ]


if __name__ == "__main__":
    import sys

    results = verdicts(read_csv(Path(sys.argv[1])), steady_state=True)
    print(summary_markdown(results))
    sys.exit(0 if all(result.passed for result in results) else 1)
