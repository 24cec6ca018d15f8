"""One sample every SOAK_SAMPLE_S: per service its memory (its worker processes apart), open
descriptors, event-loop lag and consumer lag (both from its /metrics), and Locust's counts."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import psutil
from prometheus_client.parser import text_string_to_metric_families

from docflow.testing import Scrape, ServiceProcess

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServiceSample:
    rss_mb: float  # the service's own process
    workers_rss_mb: float  # its child processes (ingest's extraction pool), 0 without
    workers: int
    fds: int  # the process's own (its workers are recycled, their descriptors with them)
    loop_lag_ms: float  # the worst of the last ~10 s (docflow_event_loop_lag_max_seconds)
    kafka_lag: int  # of its consumer group, every partition (docflow_kafka_consumer_lag)

    @property
    def total_rss_mb(self) -> float:
        return self.rss_mb + self.workers_rss_mb


@dataclass(frozen=True)
class Sample:
    t_s: float
    services: dict[str, ServiceSample]
    requests: int  # since the soak began
    failures: int
    rps: float  # over the last interval

    @property
    def loop_lag_ms(self) -> float:
        return max(service.loop_lag_ms for service in self.services.values())

    @property
    def kafka_lag(self) -> int:
        return sum(service.kafka_lag for service in self.services.values())


def _metrics(process: ServiceProcess) -> Scrape:
    with urllib.request.urlopen(f"{process.ops_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    families = text_string_to_metric_families(text)
    return Scrape([sample for family in families for sample in family.samples])


def sample_service(process: ServiceProcess) -> ServiceSample:
    assert process.process is not None
    main = psutil.Process(process.process.pid)
    children = main.children(recursive=True)
    workers_rss = 0
    fds = main.num_fds()
    for child in children:
        try:
            workers_rss += child.memory_info().rss
        except psutil.NoSuchProcess:  # a worker replaced between the listing and the read
            continue
    metrics = _metrics(process)
    return ServiceSample(
        rss_mb=main.memory_info().rss / MIB,
        workers_rss_mb=workers_rss / MIB,
        workers=len(children),
        fds=fds,
        loop_lag_ms=metrics.value("docflow_event_loop_lag_max_seconds") * 1000,
        kafka_lag=int(metrics.value("docflow_kafka_consumer_lag")),
    )


class Sampler:
    """Call `take()` on schedule; `counts` returns Locust's (requests, failures) so far."""

    def __init__(
        self, processes: dict[str, ServiceProcess], counts: Callable[[], tuple[int, int]]
    ) -> None:
        self.processes = processes
        self.counts = counts
        self.samples: list[Sample] = []
        self.started = time.monotonic()

    def take(self) -> Sample:
        now = time.monotonic()
        requests, failures = self.counts()
        previous = self.samples[-1] if self.samples else None
        elapsed = now - self.started - (previous.t_s if previous else 0.0)
        done = requests - (previous.requests if previous else 0)
        sample = Sample(
            t_s=now - self.started,
            services={name: sample_service(process) for name, process in self.processes.items()},
            requests=requests,
            failures=failures,
            rps=done / elapsed if elapsed > 0 else 0.0,
        )
        self.samples.append(sample)
        return sample

    def run(
        self, *, duration_s: float, interval_s: float, on_sample: Callable[[Sample], None]
    ) -> None:
        """Samples at 0, interval, 2 x interval ... up to `duration_s` (the last one at the end)."""
        self.started = time.monotonic()
        on_sample(self.take())
        ticks = max(round(duration_s / interval_s), 1)
        for tick in range(1, ticks + 1):
            time.sleep(max(self.started + tick * interval_s - time.monotonic(), 0))
            on_sample(self.take())
