"""The fault drill's scenarios: traffic, one fault, the restart of what was killed, and the counts.

Every scenario writes as its own tenant (so its counts are its own), runs its clients through the
fault, stops them, waits for the backlog to drain, and reports what the stores hold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from docflow.testing import bearer
from tests.chaos.cluster import Cluster, Component, in_thread
from tests.chaos.counts import billing, dead_letters, settle, store_counts
from tests.chaos.traffic import ClientLedger, Kind, Reader, Writer


@dataclass(frozen=True)
class Scale:
    name: str
    writers: int  # clients writing one document at a time
    batch_writers: int
    upload_writers: int
    readers: int
    warmup_s: float  # traffic before the fault
    down_s: float  # how long a killed component stays down
    after_s: float  # traffic after the restart
    provider_phase_s: float  # each of "500s" and "insufficient_quota"
    backpressure_s: float
    settle_s: float  # how long the backlog may take to drain
    writer_pause_s: float = 0.05


SHORT = Scale("short", 2, 1, 1, 2, 3, 4, 4, 15, 20, 180)
FULL = Scale("full", 8, 2, 2, 8, 20, 20, 30, 300, 600, 1200)


@dataclass
class Row:
    scenario: str
    acknowledged: int
    stored: int
    analyzed: int
    failed: int
    dead_lettered: int
    lost: int
    duplicated: int
    paid_twice: int
    paid_twice_at_kill: int  # of paid_twice: in flight (or not yet stored) when analysis died
    # From the end of the fault (the restart began; the provider answered again) until no client
    # saw an error any more and every document acknowledged by then was analyzed.
    recovery_s: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.failed == 0
            and self.dead_lettered == 0
            and self.paid_twice == self.paid_twice_at_kill
            and self.stored == self.acknowledged
            and self.analyzed == self.acknowledged
            and self.recovery_s is not None
        )


@dataclass
class Context:
    cluster: Cluster
    scale: Scale
    ledger: ClientLedger
    killed_at: float | None = None  # wall clock, for telling in-flight requests apart
    fault_end: float | None = None  # monotonic: the restart began, or the provider recovered
    notes: list[str] = field(default_factory=list)


Fault = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    tag: str  # lower-case letters/digits: tenant `chaos-<tag>`, refs `ref<tag>n…`
    fault: Fault
    kinds: tuple[Kind, ...] = ("single",)
    readers: bool = False


async def run(cluster: Cluster, scale: Scale, scenario: Scenario) -> Row:
    tenant = f"chaos-{scenario.tag}"
    headers = bearer(await cluster.api_key(tenant))
    context = Context(cluster, scale, ClientLedger())
    stop = asyncio.Event()
    ingest = httpx.AsyncClient(base_url=cluster.url("ingest"), headers=headers, timeout=30)
    query = httpx.AsyncClient(base_url=cluster.url("query"), headers=headers, timeout=10)
    give_up_s = scale.settle_s / 2
    counts = {
        "single": scale.writers,
        "batch": scale.batch_writers,
        "upload": scale.upload_writers,
    }
    clients = [
        Writer(
            ingest,
            context.ledger,
            tag=scenario.tag,
            kind=kind,
            give_up_s=give_up_s,
            pause_s=scale.writer_pause_s,
        )
        for kind in scenario.kinds
        for _ in range(counts[kind])
    ]
    readers = [Reader(query, context.ledger, pause_s=0.02) for _ in range(scale.readers)]
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    tasks += [asyncio.create_task(r.run(stop)) for r in readers if scenario.readers]
    try:
        await asyncio.sleep(scale.warmup_s)
        await scenario.fault(context)
        fault_end = context.fault_end or time.monotonic()
        owed = set(context.ledger.acknowledged)
        drained = asyncio.create_task(
            settle(cluster, tenant, owed, timeout_s=scale.settle_s), name="drain"
        )
        await asyncio.sleep(scale.after_s)
        stop.set()
        await asyncio.gather(*tasks)
        _, drained_at = await drained
        counts_now, settled_at = await settle(
            cluster, tenant, set(context.ledger.acknowledged), timeout_s=scale.settle_s
        )
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await ingest.aclose()
        await query.aclose()
    recovery = None
    if drained_at is not None and settled_at is not None:
        last_failure = max(context.ledger.last_failure, fault_end)
        recovery = round(max(drained_at, last_failure) - fault_end, 1)
    letters = await dead_letters(cluster, tenant)
    bill = billing(cluster.fake_admin("answered")["requests"], scenario.tag, context.killed_at)
    notes = context.notes + _client_notes(context.ledger)
    if letters:
        notes.append("dead letters: " + ", ".join(f"{k} {v}" for k, v in letters.items()))
    if counts_now.queued:
        notes.append(f"{counts_now.queued} still queued after {scale.settle_s:.0f} s")
    return Row(
        scenario=scenario.name,
        acknowledged=len(context.ledger.acknowledged),
        stored=counts_now.stored,
        analyzed=counts_now.analyzed,
        failed=counts_now.failed,
        dead_lettered=sum(letters.values()),
        lost=counts_now.lost,
        duplicated=counts_now.duplicated,
        paid_twice=bill.paid_twice,
        paid_twice_at_kill=bill.at_kill,
        recovery_s=recovery,
        notes=notes,
    )


def _client_notes(ledger: ClientLedger) -> list[str]:
    notes = []
    if ledger.retries:
        top = ", ".join(f"{reason} {n}" for reason, n in ledger.retries.most_common(3))
        notes.append(f"client retries: {top}")
    if ledger.rejected:
        notes.append("rejected: " + ", ".join(f"{k} {v}" for k, v in ledger.rejected.items()))
    failed_reads = {k: v for k, v in ledger.reads.items() if not k.startswith(("2", "3", "404"))}
    if failed_reads:
        total = sum(ledger.reads.values())
        notes.append(
            f"reads failed {sum(failed_reads.values())}/{total}: "
            + ", ".join(f"{k} {v}" for k, v in failed_reads.items())
        )
    return notes


# ---- the faults -------------------------------------------------------------------------------


def kill_and_restart(component: Component) -> Fault:
    async def fault(context: Context) -> None:
        await in_thread(context.cluster.kill, component)
        await asyncio.sleep(context.scale.down_s)
        context.fault_end = time.monotonic()
        await in_thread(context.cluster.restart, component)
        context.notes.append(
            f"{component} up again in {time.monotonic() - context.fault_end:.1f} s"
        )

    return fault


def stop_analysis_mid_request(*, sigkill: bool) -> Fault:
    """Wait until a model request is in flight (the fake says so), then kill or stop analysis."""

    async def fault(context: Context) -> None:
        cluster = context.cluster
        await _request_in_flight(cluster, timeout_s=30)
        context.killed_at = time.time()
        if sigkill:
            await in_thread(cluster.kill, "analysis")
        else:
            await in_thread(cluster.terminate, "analysis")
        await asyncio.sleep(context.scale.down_s)
        context.fault_end = time.monotonic()
        await in_thread(cluster.restart, "analysis")

    return fault


async def _request_in_flight(cluster: Cluster, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # the fake's counter is all there is to wait on
        if cluster.fake_admin("stats")["in_flight"]:
            return
        await asyncio.sleep(0.02)


async def provider_outage(context: Context) -> None:
    """500 to every request, then `insufficient_quota` to every request, then healthy again."""
    cluster = context.cluster
    cluster.fake_admin("config", {"fail_rate": 1.0})
    await asyncio.sleep(context.scale.provider_phase_s)
    cluster.fake_admin("config", {"fail_rate": 0.0, "quota_exhausted": True})
    await asyncio.sleep(context.scale.provider_phase_s)
    cluster.fake_admin("config", {"quota_exhausted": False})
    stats = cluster.fake_admin("stats")
    context.notes.append(
        f"provider answered 500 {stats['by_status'].get('500', 0)}, "
        f"insufficient_quota {stats['rate_limited'].get('insufficient_quota', 0)} (whole run)"
    )


async def backpressure(context: Context) -> None:
    """The model answers slowly (analysis falls behind ingest) for a while; memory is sampled."""
    cluster = context.cluster
    cluster.fake_admin("config", {"latency_per_doc_ms": 400.0})
    before = cluster.rss_mb("analysis") or 0.0
    peak = before
    deadline = time.monotonic() + context.scale.backpressure_s
    while time.monotonic() < deadline:
        await asyncio.sleep(2)
        peak = max(peak, cluster.rss_mb("analysis") or 0.0)
    cluster.fake_admin("config", {"latency_per_doc_ms": 0.0})
    backlog = await store_counts(cluster, "chaos-backpressure", set(context.ledger.acknowledged))
    context.notes.append(
        f"analysis RSS {before:.0f} MB -> peak {peak:.0f} MB; "
        f"backlog at the end of the slow phase {backlog.queued}"
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "kill -9 ingest (writes, batches, uploads)",
        "ingest",
        kill_and_restart("ingest"),
        kinds=("single", "batch", "upload"),
    ),
    Scenario("kill -9 analysis mid-request", "analysis", stop_analysis_mid_request(sigkill=True)),
    Scenario(
        "SIGTERM analysis mid-request", "analysisterm", stop_analysis_mid_request(sigkill=False)
    ),
    Scenario("kill -9 query under reads", "query", kill_and_restart("query"), readers=True),
    Scenario("kill -9 Kafka", "kafka", kill_and_restart("kafka"), readers=True),
    Scenario("kill -9 FerretDB", "ferretdb", kill_and_restart("ferretdb"), readers=True),
    Scenario("kill -9 Redis", "redis", kill_and_restart("redis"), readers=True),
    Scenario("provider 500s, then insufficient_quota", "provider", provider_outage),
    Scenario("analysis slower than ingest", "backpressure", backpressure),
)


def table(rows: list[Row]) -> str:
    header = (
        "| scenario | acknowledged | stored | analyzed | failed | dead-lettered | lost "
        "| duplicated | paid twice | recovery s |"
    )
    lines = [header, "|" + " --- |" * 10]
    for row in rows:
        paid = str(row.paid_twice)
        if row.paid_twice_at_kill:
            paid += f" ({row.paid_twice_at_kill} in flight at the kill)"
        recovery = "not recovered" if row.recovery_s is None else f"{row.recovery_s:.1f}"
        lines.append(
            f"| {row.scenario} | {row.acknowledged} | {row.stored} | {row.analyzed} "
            f"| {row.failed} | {row.dead_lettered} | {row.lost} | {row.duplicated} | {paid} "
            f"| {recovery} |"
        )
    notes = [f"- {row.scenario}: {'; '.join(row.notes)}" for row in rows if row.notes]
    return "\n".join([*lines, "", *notes] if notes else lines)
