"""ANALYSIS_MODE=batch: the runner of the OpenAI Batch API path (half the price, up to 24 h).

The Kafka handler only queues documents in MongoDB (`analysis_queue`, with the original event
bytes) and commits. This runner, every BATCH_POLL_INTERVAL_S:

1. collects the submitted batch jobs (`analysis_batches`) that finished: valid results are
   stored like real-time ones. A document without a result goes back to the queue with one
   attempt more (alone in its request when the fault was its own), until RETRY_ATTEMPTS: then
   it is failed and dead-lettered;
2. submits the pending documents as one new batch job (providers/openai/batch_api.py), unless
   the quota gate is closed or the day's spend reached the cap (spend_cap.py): then the
   documents stay in the queue until the next round.

A batch job's answers come back hours later, so its cost counts against the spend cap from its
submission: the most its requests may cost (their token reservation) is counted then, and given
back when the job is collected, where the real cost of its results is counted.

A crash between creating a job and recording it leaves the documents pending: they are
submitted again (that one job may be paid twice). `insufficient_quota` closes the quota gate.
"""

from __future__ import annotations

import asyncio
import logging

from docflow.analysis.analyses import outcomes, repository
from docflow.analysis.analyses.budget import utc_day
from docflow.analysis.analyses.queue import workload_from_queue
from docflow.analysis.deps import AnalysisServices
from docflow.analysis.providers.base import QuotaExhausted
from docflow.analysis.providers.openai.batch_api import MISSING, BatchApiClient
from docflow.analysis.providers.retry import RetryPolicy
from docflow.common.clients import MongoDocument
from docflow.common.tasks import cancel_requested, stop_tasks

logger = logging.getLogger(__name__)

# Shutdown waits this long for the runner's tick in progress.
_STOP_S = 10.0


class BatchApiRunner:
    def __init__(self, *, services: AnalysisServices, client: BatchApiClient) -> None:
        self._services = services
        self._client = client
        self._policy = RetryPolicy.from_settings(services.settings)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="batch-api-runner")

    async def aclose(self) -> None:
        if self._task is not None:
            # Bounded: a cancellation landing inside a PyMongo command can be absorbed.
            await stop_tasks([self._task], timeout_s=_STOP_S)
        await self._client.aclose()

    async def _loop(self) -> None:
        while not cancel_requested():
            try:
                await self.tick()
            except Exception:
                logger.exception("batch API runner tick failed; retrying next interval")
            await asyncio.sleep(self._services.settings.batch_poll_interval_s)

    async def tick(self) -> None:
        """One round: collect finished batch jobs, then submit what is pending."""
        for job in await repository.open_batch_jobs(self._services.db):
            await self._collect(job)
        if self._services.gate.is_open and not await self._services.spend_cap.reached():
            await self._submit()

    async def _submit(self) -> None:
        services = self._services
        items = await repository.pending_items(
            services.db, limit=services.settings.batch_max_documents
        )
        if not items:
            return
        documents = await repository.load_documents(services.db, [i["document_id"] for i in items])
        present = [i for i in items if i["document_id"] in documents]
        await repository.remove_items(services.db, [i["_id"] for i in items if i not in present])
        if not present:
            return
        workload = workload_from_queue(services, present, documents)
        grouped = [i["document_id"] for i in present if not i.get("alone")]
        alone = [i["document_id"] for i in present if i.get("alone")]
        try:
            job = await self._client.submit(
                grouped=[outcomes.document_input(workload, i) for i in grouped],
                alone=[outcomes.document_input(workload, i) for i in alone],
            )
        except QuotaExhausted as exc:
            services.gate.close(str(exc))
            return
        job["reserved_usd"] = outcomes.cost_of(services, **job["reserved"])
        job["reserved_day"] = utc_day()
        await services.spend_cap.add(job["reserved_usd"])
        await repository.insert_batch_job(services.db, job)
        await repository.mark_submitted(services.db, [i["_id"] for i in present], job["_id"])
        logger.info(
            "batch job submitted",
            extra={
                "batch_id": job["_id"],
                "documents": len(present),
                "requests": len(job["requests"]),
            },
        )

    async def _collect(self, job: MongoDocument) -> None:
        finished = await self._client.collect(job)
        if finished is None:
            return
        services = self._services
        items = await repository.items_of_batch_job(services.db, job["_id"])
        documents = await repository.load_documents(services.db, [i["document_id"] for i in items])
        items = [i for i in items if i["document_id"] in documents]
        workload = workload_from_queue(services, items, documents)
        analyzed = {k: v for k, v in finished.analyzed.items() if k in documents}
        await outcomes.store_all(workload, analyzed, truncated=finished.truncated)
        done = [i["_id"] for i in items if i["document_id"] in analyzed]
        retry_alone, retry_grouped = [], []
        for item in items:
            if item["document_id"] in analyzed:
                continue
            unanalyzed = finished.unanalyzed.get(item["document_id"], MISSING)
            if self._policy.exhausted(int(item.get("attempts", 0)) + 1):
                await outcomes.fail(workload, item["document_id"], unanalyzed.reason)
                done.append(item["_id"])
            elif unanalyzed.own_fault:
                retry_alone.append(item["_id"])
            else:
                retry_grouped.append(item["_id"])
        await repository.requeue(services.db, retry_alone, alone=True)
        await repository.requeue(services.db, retry_grouped, alone=False)
        await repository.remove_items(services.db, done)
        await services.spend_cap.release(
            float(job.get("reserved_usd") or 0.0), day=str(job.get("reserved_day"))
        )
        await repository.remove_batch_job(services.db, job["_id"])
        logger.info(
            "batch job collected",
            extra={
                "batch_id": job["_id"],
                "analyzed": len(analyzed),
                "retried": len(retry_alone) + len(retry_grouped),
            },
        )
