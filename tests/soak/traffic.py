"""The soak's traffic, Locust as a library: the read mix of tests/perf/locustfile.py plus
writes, batches and uploads; a capacity ramp without waits; then a constant rate.

Importing this module imports Locust, which monkey-patches the process for gevent: import it
before anything opens a connection (tests/soak/__main__.py does).
"""

from __future__ import annotations

import itertools
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from locust import constant, constant_throughput, task
from locust.env import Environment

from services.ingest.tests.files import make_docx, make_pdf
from tests.perf import locustfile
from tests.perf.locustfile import Reader
from tests.soak.stack import SoakStack, seed_text

MAX_USER_RATE = 2.0  # tasks a second one soak user is asked for
LATENCY_LIMIT_MS = 1000  # a ramp step slower than this at the 95th percentile is past capacity
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_sequence = itertools.count()
_RUN = uuid.uuid4().hex[:8]


def _text(kind: str) -> str:
    return seed_text(f"{_RUN}-{kind}", next(_sequence))


# One of each kind in turn: (file name, MIME type, bytes from text).
UPLOADS: list[tuple[str, str, Callable[[str], bytes]]] = [
    ("notes.txt", "text/plain", str.encode),
    ("page.html", "text/html", lambda text: f"<html><body><p>{text}</p></body></html>".encode()),
    ("minutes.docx", DOCX_MIME, lambda text: make_docx([text])),
    ("report.pdf", "application/pdf", lambda text: make_pdf([text])),
]


class SoakUser(Reader):
    """Reads (by id, filtered lists, stats: Reader's 70/20/10) and, for every 100 of those,
    15 single writes, 3 batches of 5 and 6 uploads, all distinct content."""

    ingest_url = ""
    wait_time = constant(0)
    connection_timeout = 30.0
    network_timeout = 60.0

    @task(15)
    def write(self) -> None:
        document = {"content": _text("write"), "title": "Soak write", "source": "soak"}
        self.client.post(f"{self.ingest_url}/v1/documents", json=document, name="POST /documents")

    @task(3)
    def write_batch(self) -> None:
        documents = [{"content": _text("batch"), "source": "soak"} for _ in range(5)]
        self.client.post(
            f"{self.ingest_url}/v1/documents/batch",
            json={"documents": documents},
            name="POST /documents/batch",
        )

    @task(6)
    def upload(self) -> None:
        name, mime, build = UPLOADS[next(_sequence) % len(UPLOADS)]
        self.client.post(
            f"{self.ingest_url}/v1/documents/upload",
            files={"file": (name, build(_text("upload")), mime)},
            data={"source": "soak-upload"},
            name=f"POST /documents/upload ({name.rsplit('.', 1)[1]})",
        )


def environment(stack: SoakStack) -> Environment:
    """A Locust environment against `stack`, the read mix primed with the seeded ids."""
    SoakUser.ingest_url = stack.url("ingest")
    env = Environment(user_classes=[SoakUser], host=stack.url("query"))
    os.environ[locustfile.API_KEY_ENV] = stack.api_key
    locustfile.discover_ids(env)  # fills the ids and the header the read tasks use
    env.create_local_runner()
    return env


@dataclass(frozen=True)
class Step:
    users: int
    rps: float
    failures: int
    p95_ms: float

    @property
    def healthy(self) -> bool:
        return self.failures == 0 and self.p95_ms <= LATENCY_LIMIT_MS


@dataclass(frozen=True)
class Capacity:
    rps: float
    users: int
    steps: list[Step]


def _run_users(env: Environment, users: int) -> None:
    assert env.runner is not None
    env.runner.start(users, spawn_rate=max(users, 1))
    deadline = time.monotonic() + 30
    while env.runner.user_count < users and time.monotonic() < deadline:
        time.sleep(0.1)


def measure_capacity(env: Environment, *, step_s: float, max_users: int) -> Capacity:
    """Users without waits, doubled each step until errors, a p95 over LATENCY_LIMIT_MS, or
    no more gain (under 5 %): the best healthy step's requests/s is the capacity."""
    assert env.runner is not None
    SoakUser.wait_time = constant(0)
    steps: list[Step] = []
    best: Step | None = None
    users = 1
    while users <= max_users:
        _run_users(env, users)
        env.stats.reset_all()
        time.sleep(step_s)
        total = env.stats.total
        step = Step(
            users=users,
            rps=total.num_requests / step_s,
            failures=total.num_failures,
            p95_ms=total.get_response_time_percentile(0.95) or 0.0,
        )
        steps.append(step)
        print(
            f"soak: capacity step {users} users: {step.rps:.1f} req/s, "
            f"p95 {step.p95_ms:.0f} ms, {step.failures} failures"
        )
        if not step.healthy or (best is not None and step.rps < best.rps * 1.05):
            if step.healthy and (best is None or step.rps > best.rps):
                best = step
            break
        best = step
        users *= 2
    env.runner.stop()
    if best is None:
        raise RuntimeError(f"no healthy ramp step: {steps}")
    return Capacity(rps=best.rps, users=best.users, steps=steps)


def run_at_rate(env: Environment, *, rps: float, users: int) -> None:
    """Start `users` users that together run about `rps` tasks a second (until stopped)."""
    # At most 2 tasks a second per user: a user keeps its pace while a request takes up to
    # half a second (a busy shared machine), where fewer, faster users fell behind the rate.
    users = max(users, 2, math.ceil(rps / MAX_USER_RATE))
    SoakUser.wait_time = constant_throughput(rps / users)
    _run_users(env, users)
    env.stats.reset_all()
