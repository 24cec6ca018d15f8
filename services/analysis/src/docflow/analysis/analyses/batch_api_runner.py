"""ANALYSIS_MODE=batch: the OpenAI Batch API for backfills (half the price, up to 24 h).

The Kafka handler only queues documents in MongoDB (`analysis_queue`, with the original event
bytes) and commits. This runner, every BATCH_POLL_INTERVAL_S:

1. polls the submitted batches (`analysis_batches`); a completed one has its output and error
   files read and mapped back by `custom_id` (one custom_id per packed request, its documents in
   index order). Valid results are stored like real-time ones. A document with an error line,
   a missing or invalid result, or in an expired/failed/cancelled batch goes back to the queue
   with one attempt more (alone in its request when the fault was its own), until
   RETRY_ATTEMPTS: then it is failed and dead-lettered;
2. submits the pending documents: packed into requests like the real-time path, written as
   JSONL, uploaded (purpose `batch`), and submitted for `/v1/chat/completions`.

A crash between creating a batch and recording it leaves the documents pending: they are
submitted again (that one batch may be paid twice). `insufficient_quota` closes the quota gate.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Literal

import openai
import orjson
from openai import AsyncOpenAI

from docflow.analysis.analyses import outcomes, repository
from docflow.analysis.analyses.context import AnalysisContext
from docflow.analysis.analyses.queue import batch_from_queue
from docflow.analysis.batching import Packer
from docflow.analysis.prompt import messages_for, response_format
from docflow.analysis.providers.answers import MalformedAnswer, parse_results, split_usage
from docflow.analysis.providers.base import Analyzed
from docflow.analysis.providers.openai import QUOTA_CODES
from docflow.analysis.retry import RetryPolicy
from docflow.common.clients import MongoDocument
from docflow.common.tasks import cancel_requested, stop_tasks

logger = logging.getLogger(__name__)

ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
UNFINISHED = frozenset({"validating", "in_progress", "finalizing", "cancelling"})

# Shutdown waits this long for the runner's tick in progress.
_STOP_S = 10.0


class BatchRunner:
    def __init__(self, *, ctx: AnalysisContext, client: AsyncOpenAI, packer: Packer) -> None:
        self._ctx = ctx
        self._client = client
        self._packer = packer
        settings = ctx.settings
        self._policy = RetryPolicy(
            settings.retry_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="batch-runner")

    async def aclose(self) -> None:
        if self._task is not None:
            # Bounded: a cancellation landing inside a PyMongo command can be absorbed.
            await stop_tasks([self._task], timeout_s=_STOP_S)
        await self._client.close()

    async def _loop(self) -> None:
        while not cancel_requested():
            try:
                await self.tick()
            except Exception:
                logger.exception("batch runner tick failed; retrying next interval")
            await asyncio.sleep(self._ctx.settings.batch_poll_interval_s)

    async def tick(self) -> None:
        """One round: collect finished batches, then submit what is pending."""
        for record in await repository.open_batches(self._ctx.db):
            await self._poll(record)
        if self._ctx.gate.is_open:
            await self._submit()

    # ---- submitting ------------------------------------------------------------------------

    async def _submit(self) -> None:
        ctx = self._ctx
        items = await repository.pending_items(ctx.db, limit=ctx.settings.batch_max_documents)
        if not items:
            return
        documents = await repository.load_documents(ctx.db, [i["document_id"] for i in items])
        present = [i for i in items if i["document_id"] in documents]
        await repository.remove_items(ctx.db, [i["_id"] for i in items if i not in present])
        if not present:
            return
        batch = batch_from_queue(ctx, present, documents)
        grouped = [i["document_id"] for i in present if not i.get("alone")]
        alone = [i["document_id"] for i in present if i.get("alone")]
        plans = self._packer.pack(
            [outcomes.document_input(batch, i) for i in grouped]
        ) + self._packer.pack([outcomes.document_input(batch, i) for i in alone], alone=True)
        requests, lines = [], []
        for plan in plans:
            custom_id = f"req-{uuid.uuid4().hex}"
            requests.append(
                {
                    "custom_id": custom_id,
                    "document_ids": [d.document_id for d in plan.documents],
                    "weights": [self._packer.document_tokens(d) for d in plan.documents],
                    "truncated": [d.document_id for d in plan.documents if d.truncated],
                }
            )
            lines.append(self._line(custom_id, [d.text for d in plan.documents], plan))
        try:
            uploaded = await self._client.files.create(
                file=("docflow-analysis.jsonl", b"".join(lines)), purpose="batch"
            )
            created = await self._client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"service": "docflow-analysis"},
            )
        except openai.RateLimitError as exc:
            if (exc.code or exc.type) in QUOTA_CODES:
                ctx.gate.close(exc.code or "insufficient_quota")
                return
            raise
        await repository.insert_batch(ctx.db, {"_id": created.id, "requests": requests})
        await repository.mark_submitted(ctx.db, [i["_id"] for i in present], created.id)
        logger.info(
            "batch submitted",
            extra={"batch_id": created.id, "documents": len(present), "requests": len(plans)},
        )

    def _line(self, custom_id: str, texts: list[str], plan: Any) -> bytes:
        body = {
            "model": self._ctx.provider.model,
            "messages": messages_for(texts),
            "response_format": response_format(
                structured=self._ctx.settings.openai_structured_output
            ),
            "max_completion_tokens": plan.completion_tokens,
            "temperature": 0,
        }
        line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        return orjson.dumps(line) + b"\n"

    # ---- collecting ------------------------------------------------------------------------

    async def _poll(self, record: MongoDocument) -> None:
        remote = await self._client.batches.retrieve(record["_id"])
        if remote.status in UNFINISHED:
            return
        answers: dict[str, Any] = {}
        if remote.status == "completed":
            for file_id in (remote.output_file_id, remote.error_file_id):
                answers.update(await self._read_lines(file_id))
        fates = self._outcomes(record, answers, batch_status=remote.status)
        await self._settle(record, fates)

    async def _read_lines(self, file_id: str | None) -> dict[str, Any]:
        if not file_id:
            return {}
        content = (await self._client.files.content(file_id)).content
        lines = {}
        for raw in content.splitlines():
            if raw.strip():
                line = orjson.loads(raw)
                if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
                    lines[line["custom_id"]] = line
        return lines

    def _outcomes(
        self, record: MongoDocument, answers: dict[str, Any], *, batch_status: str
    ) -> dict[str, Analyzed | tuple[str, bool]]:
        """Per document: a result, or (reason, own fault) for the retry decision."""
        fates: dict[str, Analyzed | tuple[str, bool]] = {}
        for request in record["requests"]:
            ids: list[str] = request["document_ids"]
            line = answers.get(request["custom_id"])
            if batch_status != "completed":
                fates.update(dict.fromkeys(ids, (f"batch {batch_status}", False)))
                continue
            response = (line or {}).get("response") or {}
            if line is None or response.get("status_code") != 200:
                error = (line or {}).get("error") or (response.get("body") or {}).get("error")
                reason = f"batch line failed: {(error or {}).get('code') or 'no answer'}"
                fates.update({i: (reason, len(ids) == 1) for i in ids})
                continue
            body = response["body"]
            usage = body.get("usage") or {}
            shares = split_usage(
                request["weights"],
                prompt=int(usage.get("prompt_tokens", 0)),
                completion=int(usage.get("completion_tokens", 0)),
            )
            try:
                content = body["choices"][0]["message"]["content"]
                parsed = parse_results(content, count=len(ids))
            except (MalformedAnswer, KeyError, IndexError, TypeError) as exc:
                fates.update({i: (f"malformed answer: {exc}", len(ids) == 1) for i in ids})
                continue
            for index, document_id in enumerate(ids):
                value = parsed[index]
                fates[document_id] = (
                    (value, True)
                    if isinstance(value, str)
                    else Analyzed(result=value, usage=shares[index])
                )
        return fates

    async def _settle(
        self, record: MongoDocument, fates: dict[str, Analyzed | tuple[str, bool]]
    ) -> None:
        ctx = self._ctx
        items = await repository.items_of_batch(ctx.db, record["_id"])
        documents = await repository.load_documents(ctx.db, [i["document_id"] for i in items])
        items = [i for i in items if i["document_id"] in documents]
        batch = batch_from_queue(ctx, items, documents)
        analyzed = {k: v for k, v in fates.items() if isinstance(v, Analyzed) and k in documents}
        truncated = {d for r in record["requests"] for d in r["truncated"]}
        await outcomes.store_all(batch, analyzed, truncated=truncated)
        done = [i["_id"] for i in items if i["document_id"] in analyzed]
        retry_alone, retry_grouped = [], []
        for item in items:
            outcome = fates.get(item["document_id"], ("result missing", True))
            if isinstance(outcome, Analyzed):
                continue
            reason, own_fault = outcome
            if self._policy.exhausted(int(item.get("attempts", 0)) + 1):
                await outcomes.fail(batch, item["document_id"], reason)
                done.append(item["_id"])
            elif own_fault:
                retry_alone.append(item["_id"])
            else:
                retry_grouped.append(item["_id"])
        await repository.requeue(ctx.db, retry_alone, alone=True)
        await repository.requeue(ctx.db, retry_grouped, alone=False)
        await repository.remove_items(ctx.db, done)
        await repository.remove_batch(ctx.db, record["_id"])
        logger.info(
            "batch collected",
            extra={
                "batch_id": record["_id"],
                "analyzed": len(analyzed),
                "retried": len(retry_alone) + len(retry_grouped),
            },
        )
