"""The OpenAI provider: any OpenAI-compatible chat-completions API through the official SDK.

Documents are packed several per request (packing.Packer), sent concurrently up to a limit
through the client-side limiter (ratelimit.RateLimiter), and each result is validated on its
own. Retries happen here only (the SDK's are off): a document whose request failed or whose
result was missing/invalid is retried alone, with backoff, up to `RETRY_ATTEMPTS`; then it is
reported failed. `insufficient_quota` is never retried: the documents are reported blocked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import openai
from openai import AsyncOpenAI

from docflow.analysis.metrics import (
    DOCUMENTS_PER_REQUEST,
    RATE_LIMITED,
    REQUEST_DURATION,
    REQUESTS,
)
from docflow.analysis.providers.base import (
    Analyzed,
    DocumentInput,
    ProviderOutcome,
    QuotaExhausted,
)
from docflow.analysis.providers.openai.answers import MalformedAnswer, parse_results, split_usage
from docflow.analysis.providers.openai.packing import Packer, RequestPlan
from docflow.analysis.providers.openai.prompt import messages_for, response_format
from docflow.analysis.providers.openai.ratelimit import RateLimiter, retry_after_seconds
from docflow.analysis.providers.retry import RetryPolicy
from docflow.analysis.providers.tokens import TokenEstimator
from docflow.analysis.settings import AnalysisSettings
from docflow.common.documents import Usage

logger = logging.getLogger(__name__)

QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})


@dataclass(slots=True)
class RequestOutcome:
    """What one request gave: per-index result or reason, or one reason for the whole request."""

    kind: str  # ok | retry | rate_limited | quota
    per_document: dict[int, Analyzed | str] = field(default_factory=dict)
    reason: str = ""
    # A retry the documents did not cause: a 5xx, a timeout, a connection error.
    provider_fault: bool = False


def create_client(settings: AnalysisSettings) -> AsyncOpenAI:
    assert settings.openai_api_key is not None
    return AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=0,  # retries are decided in one place: ours
    )


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        settings: AnalysisSettings,
        client: AsyncOpenAI,
        limiter: RateLimiter,
        estimator: TokenEstimator,
    ) -> None:
        self.model = settings.openai_model
        self._client = client
        self._limiter = limiter
        self._estimator = estimator
        self._structured = settings.openai_structured_output
        self._policy = RetryPolicy.from_settings(settings)
        self._packer = Packer.from_settings(settings, estimator)
        self._slots = asyncio.Semaphore(settings.max_concurrent_requests)

    async def analyze(self, documents: list[DocumentInput]) -> ProviderOutcome:
        outcome = ProviderOutcome()
        attempts: dict[str, int] = {d.document_id: 0 for d in documents}
        grouped, alone = list(documents), list[DocumentInput]()
        out_of_attempts: list[tuple[DocumentInput, str]] = []
        while grouped or alone:
            plans = self._packer.pack(grouped) + self._packer.pack(alone, alone=True)
            grouped, alone = [], []
            results = await asyncio.gather(*(self._run(plan) for plan in plans))
            for plan, result in zip(plans, results, strict=True):
                if result.kind == "quota":
                    outcome.quota_blocked.update(d.document_id for d in plan.documents)
                    outcome.blocked_reason = result.reason
                    continue
                if result.kind == "rate_limited":
                    grouped.extend(plan.documents)  # not the documents' fault: no attempt spent
                    continue
                for index, document in enumerate(plan.documents):
                    answer = result.per_document.get(index, result.reason or "no result")
                    if isinstance(answer, Analyzed):
                        outcome.analyzed[document.document_id] = answer
                        continue
                    attempts[document.document_id] += 1
                    if not self._policy.exhausted(attempts[document.document_id]):
                        alone.append(document)
                    elif result.provider_fault:
                        out_of_attempts.append((document, answer))
                    else:
                        outcome.failed[document.document_id] = answer
            if out_of_attempts:
                await self._fail_or_block(out_of_attempts, outcome)
                out_of_attempts = []
            if outcome.quota_blocked:
                # Nothing more goes out while the quota is exhausted; the caller holds the rest.
                outcome.quota_blocked.update(d.document_id for d in grouped + alone)
                break
            if alone:
                await asyncio.sleep(self._policy.delay(max(attempts[d.document_id] for d in alone)))
        return outcome

    async def _run(self, plan: RequestPlan) -> RequestOutcome:
        async with self._slots:
            await self._limiter.acquire(plan.total_tokens)
            return await self._request(plan)

    async def _request(self, plan: RequestPlan) -> RequestOutcome:
        texts = [d.text for d in plan.documents]
        DOCUMENTS_PER_REQUEST.observe(len(texts))
        started = time.perf_counter()
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages_for(texts),
                response_format=response_format(structured=self._structured),
                max_completion_tokens=plan.completion_tokens,
                temperature=0,
            )
        except openai.RateLimitError as exc:
            return self._rate_limited(exc)
        except openai.APITimeoutError:
            return self._retry("timeout", "request timed out", provider_fault=True)
        except openai.APIConnectionError as exc:
            reason = f"connection error: {type(exc).__name__}"
            return self._retry("connection_error", reason, provider_fault=True)
        except openai.AuthenticationError as exc:
            # A wrong key is an outage of the provider for us, not the documents' fault.
            REQUESTS.labels(self.model, "auth_error").inc()
            return RequestOutcome("quota", reason=f"authentication failed: {exc.status_code}")
        except openai.APIStatusError as exc:
            server_error = exc.status_code >= 500
            kind = "server_error" if server_error else "client_error"
            reason = f"provider answered {exc.status_code}"
            return self._retry(kind, reason, provider_fault=server_error)
        finally:
            REQUEST_DURATION.labels(self.model).observe(time.perf_counter() - started)
        self._limiter.observe_headers(raw.headers)
        completion = raw.parse()
        usage = completion.usage
        truncated = bool(completion.choices) and completion.choices[0].finish_reason == "length"
        if usage is not None:
            self._estimator.reconcile(estimated=plan.prompt_tokens, actual=usage.prompt_tokens)
            self._estimator.observe_completion(
                tokens=usage.completion_tokens, documents=len(texts), truncated=truncated
            )
        content = completion.choices[0].message.content if completion.choices else None
        try:
            parsed = parse_results(content, count=len(texts))
        except MalformedAnswer as exc:
            return self._retry("invalid", str(exc))
        REQUESTS.labels(self.model, "ok").inc()
        shares = self._usage_shares(plan, usage)
        per_document: dict[int, Analyzed | str] = {
            index: Analyzed(result=value, usage=shares[index])
            if not isinstance(value, str)
            else value
            for index, value in parsed.items()
        }
        return RequestOutcome("ok", per_document)

    def _usage_shares(self, plan: RequestPlan, usage: object) -> list[Usage]:
        return split_usage(
            [self._packer.document_tokens(d) for d in plan.documents],
            prompt=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    def _retry(self, kind: str, reason: str, *, provider_fault: bool = False) -> RequestOutcome:
        REQUESTS.labels(self.model, kind).inc()
        logger.warning("provider request failed", extra={"outcome": kind, "reason": reason})
        return RequestOutcome("retry", reason=reason, provider_fault=provider_fault)

    async def _fail_or_block(
        self, documents: list[tuple[DocumentInput, str]], outcome: ProviderOutcome
    ) -> None:
        """Documents out of attempts through 5xx, timeouts or connection errors: theirs to fail
        only if the provider answers others meanwhile. While it answers nothing (an outage),
        they are held like the quota's, and the gate's probe resumes analysis once it is back."""
        try:
            await self.probe()
        except Exception as exc:
            reason = f"provider unavailable: {documents[0][1]}"
            logger.error(
                "provider unavailable; holding analysis", extra={"error": type(exc).__name__}
            )
            outcome.quota_blocked.update(document.document_id for document, _ in documents)
            outcome.blocked_reason = reason
            return
        for document, reason in documents:
            outcome.failed[document.document_id] = reason

    def _rate_limited(self, exc: openai.RateLimitError) -> RequestOutcome:
        code = exc.code or (exc.type if isinstance(exc.type, str) else None)
        if code in QUOTA_CODES:
            RATE_LIMITED.labels("insufficient_quota").inc()
            REQUESTS.labels(self.model, "quota").inc()
            return RequestOutcome("quota", reason=code or "insufficient_quota")
        RATE_LIMITED.labels("rate_limit_exceeded").inc()
        REQUESTS.labels(self.model, "rate_limited").inc()
        pause = self._limiter.rate_limited(retry_after_seconds(exc.response.headers))
        logger.info("rate limited; pausing", extra={"pause_s": round(pause, 3)})
        return RequestOutcome("rate_limited", reason="rate limited")

    async def probe(self) -> None:
        """A one-token completion: it fails exactly while the quota is exhausted."""
        try:
            await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": "ping"}],
                max_completion_tokens=1,
            )
        except openai.RateLimitError as exc:
            if (exc.code or exc.type) in QUOTA_CODES:
                raise QuotaExhausted(exc.code or "insufficient_quota") from None
            # Rate limited, but the quota is there: the provider can serve.

    async def aclose(self) -> None:
        await self._client.close()
