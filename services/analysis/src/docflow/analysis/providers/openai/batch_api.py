"""The OpenAI Batch API (ANALYSIS_MODE=batch, for backfills): one batch job per submission.

Submitting: documents are packed into requests exactly as in real time, written as JSONL (one
line per request, with a random `custom_id`), uploaded (purpose `batch`) and submitted for
`/v1/chat/completions`. The job's record names each request's documents in index order.

Collecting: a finished job's output and error files are read and mapped back by `custom_id`.
A document gets its result, or the reason it has none and whether the fault was its own (an
error line or a bad answer for a request of that document alone, an invalid or missing result)
or not (a failed line shared with others, an expired, failed or cancelled job).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import openai
import orjson
from openai import AsyncOpenAI

from docflow.analysis.providers.base import Analyzed, DocumentInput, QuotaExhausted
from docflow.analysis.providers.openai.answers import MalformedAnswer, parse_results, split_usage
from docflow.analysis.providers.openai.packing import Packer, RequestPlan
from docflow.analysis.providers.openai.prompt import messages_for, response_format
from docflow.analysis.providers.openai.provider import QUOTA_CODES
from docflow.common.clients import MongoDocument

ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
UNFINISHED = frozenset({"validating", "in_progress", "finalizing", "cancelling"})


@dataclass(frozen=True, slots=True)
class Unanalyzed:
    """Why a document of a finished job has no result; `own_fault` retries it alone."""

    reason: str
    own_fault: bool


# A document the job's answers do not mention at all.
MISSING = Unanalyzed("result missing", own_fault=True)


@dataclass(frozen=True, slots=True)
class FinishedJob:
    analyzed: dict[str, Analyzed]
    unanalyzed: dict[str, Unanalyzed]
    # Documents whose text was truncated before it was submitted.
    truncated: set[str]


class BatchApiClient:
    def __init__(
        self, *, client: AsyncOpenAI, packer: Packer, model: str, structured: bool
    ) -> None:
        self._client = client
        self._packer = packer
        self._model = model
        self._structured = structured

    async def submit(
        self, *, grouped: list[DocumentInput], alone: list[DocumentInput]
    ) -> MongoDocument:
        """Submit one job (`alone`: one document per request); returns the record to keep:
        `_id` is the job's id, `requests` its requests, `reserved` the tokens its requests may
        use at most. Raises QuotaExhausted."""
        plans = self._packer.pack(grouped) + self._packer.pack(alone, alone=True)
        requests, lines = [], []
        for plan in plans:
            custom_id = f"req-{uuid.uuid4().hex}"
            requests.append(
                {
                    "custom_id": custom_id,
                    "tenant_id": plan.tenant_id,
                    "document_ids": [d.document_id for d in plan.documents],
                    "weights": [self._packer.document_tokens(d) for d in plan.documents],
                    "truncated": [d.document_id for d in plan.documents if d.truncated],
                }
            )
            lines.append(self._line(custom_id, plan))
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
                raise QuotaExhausted(exc.code or "insufficient_quota") from None
            raise
        reserved = {
            "prompt_tokens": sum(p.prompt_tokens for p in plans),
            "completion_tokens": sum(p.completion_tokens for p in plans),
        }
        return {"_id": created.id, "requests": requests, "reserved": reserved}

    def _line(self, custom_id: str, plan: RequestPlan) -> bytes:
        body = {
            "model": self._model,
            "messages": messages_for([d.text for d in plan.documents]),
            "response_format": response_format(structured=self._structured),
            "max_completion_tokens": plan.completion_tokens,
            "temperature": 0,
        }
        line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        return orjson.dumps(line) + b"\n"

    async def collect(self, job: MongoDocument) -> FinishedJob | None:
        """The job's answers per document, or None while it is still running."""
        remote = await self._client.batches.retrieve(job["_id"])
        if remote.status in UNFINISHED:
            return None
        answers: dict[str, Any] = {}
        if remote.status == "completed":
            for file_id in (remote.output_file_id, remote.error_file_id):
                answers.update(await self._read_lines(file_id))
        finished = FinishedJob(
            analyzed={},
            unanalyzed={},
            truncated={d for r in job["requests"] for d in r["truncated"]},
        )
        for request in job["requests"]:
            self._read_request(finished, request, answers, job_status=remote.status)
        return finished

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

    @staticmethod
    def _read_request(
        finished: FinishedJob, request: MongoDocument, answers: dict[str, Any], *, job_status: str
    ) -> None:
        ids: list[str] = request["document_ids"]
        alone = len(ids) == 1
        if job_status != "completed":
            finished.unanalyzed.update(dict.fromkeys(ids, Unanalyzed(f"batch {job_status}", False)))
            return
        line = answers.get(request["custom_id"])
        response = (line or {}).get("response") or {}
        if line is None or response.get("status_code") != 200:
            error = (line or {}).get("error") or (response.get("body") or {}).get("error")
            reason = f"batch line failed: {(error or {}).get('code') or 'no answer'}"
            finished.unanalyzed.update(dict.fromkeys(ids, Unanalyzed(reason, alone)))
            return
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
            malformed = Unanalyzed(f"malformed answer: {exc}", alone)
            finished.unanalyzed.update(dict.fromkeys(ids, malformed))
            return
        for index, document_id in enumerate(ids):
            value = parsed[index]
            if isinstance(value, str):
                finished.unanalyzed[document_id] = Unanalyzed(value, own_fault=True)
            else:
                finished.analyzed[document_id] = Analyzed(result=value, usage=shares[index])

    async def aclose(self) -> None:
        await self._client.close()
