"""The soak in miniature (`make test`): the runner end to end for 40 s with small numbers, and
its verdict rules on made-up samples. Not the RSS goal: 40 s has no warm-up to speak of."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.soak.report import read_csv, second_half_slope, verdicts, write_csv
from tests.soak.sampler import Sample, ServiceSample
from tests.soak.soak import seconds

REPO = Path(__file__).resolve().parents[2]


def _sample(t_s: float, rss_mb: float, fds: int, failures: int = 0) -> Sample:
    service = ServiceSample(
        rss_mb=rss_mb, workers_rss_mb=0.0, workers=0, fds=fds, loop_lag_ms=1.0, kafka_lag=0
    )
    return Sample(t_s=t_s, services={"query": service}, requests=100, failures=failures, rps=10.0)


@pytest.mark.unit
def test_durations_read_as_seconds() -> None:
    assert [seconds(text) for text in ("90", "30s", "5m", "1.5m", "1h")] == [90, 30, 300, 90, 3600]


@pytest.mark.unit
def test_growth_after_the_warmup_fails_and_growth_during_it_does_not() -> None:
    warming = [_sample(t, 100 + min(t, 20), 40) for t in range(0, 101, 10)]
    assert all(v.passed for v in verdicts(warming, steady_state=True))
    leaking = [_sample(t, 100 + t * 0.5, 40 + t // 5) for t in range(0, 101, 10)]
    failed = {v.goal for v in verdicts(leaking, steady_state=True) if not v.passed}
    assert failed == {
        "query: RSS growth after warm-up < 10%",
        "query: no RSS slope in the second half (< 10% an hour)",
        "query: descriptors flat (within 10)",
    }


@pytest.mark.unit
def test_a_run_csv_reads_back_as_its_samples(tmp_path: Path) -> None:
    samples = [_sample(t, 100 + t / 7, 40 + t // 10, failures=t // 20) for t in range(0, 41, 10)]
    write_csv(samples, tmp_path / "run.csv")
    assert read_csv(tmp_path / "run.csv") == samples


@pytest.mark.unit
def test_the_second_half_slope_tells_a_step_from_a_leak() -> None:
    step = [_sample(t, 100 if t < 300 else 120, 40) for t in range(0, 1201, 10)]
    assert second_half_slope(step, "query") == pytest.approx(0.0)
    leak = [_sample(t, 100 + t / 60, 40) for t in range(0, 1201, 10)]  # 1 MB a minute
    assert second_half_slope(leak, "query") == pytest.approx(60.0)


@pytest.mark.unit
def test_one_failed_request_fails_the_soak() -> None:
    samples = [_sample(0, 100, 40), _sample(10, 100, 40, failures=1)]
    assert [v.passed for v in verdicts(samples, steady_state=False)] == [False]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_short_soak_samples_everything_and_fails_nothing(tmp_path: Path) -> None:
    options = ["--duration", "40s", "--sample", "5s", "--seed-documents", "40"]
    options += ["--ramp-step", "5", "--max-users", "4", "--short", "--out", str(tmp_path)]
    run = subprocess.run(
        [sys.executable, "-m", "tests.soak", *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "| no failed request | 0 of " in run.stdout
    (table,) = tmp_path.glob("soak-*.csv")
    rows = list(csv.DictReader(table.open()))
    assert len(rows) >= 8  # 0, 5, ... 40 s
    for service in ("ingest", "analysis", "query"):
        assert all(float(row[f"{service}_rss_mb"]) > 10 for row in rows)
        assert all(int(row[f"{service}_fds"]) > 5 for row in rows)
    assert int(rows[-1]["requests"]) > 0
    assert all(int(row["failures"]) == 0 for row in rows)
    assert all(row["ingest_loop_lag_ms"] for row in rows)
    assert (tmp_path / f"{table.stem}.png").stat().st_size > 10_000
    assert (tmp_path / f"{table.stem}.md").exists()
