"""The quota gate reopens by itself; usage is split over documents without losing tokens."""

from __future__ import annotations

import pytest

from docflow.analysis.analyses.quota import QuotaGate
from docflow.analysis.providers.openai.answers import split_usage

pytestmark = pytest.mark.unit


async def test_closed_gate_reopens_when_the_probe_succeeds() -> None:
    calls = 0

    async def probe() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("still exhausted")

    gate = QuotaGate(probe=probe, interval_s=0.01)
    gate.close("insufficient_quota")
    assert not gate.is_open
    assert gate.reason == "insufficient_quota"

    assert await gate.wait_open(2.0)
    assert calls == 3
    assert gate.reason is None
    await gate.aclose()


async def test_waiting_on_a_closed_gate_times_out() -> None:
    async def never() -> None:
        raise RuntimeError("exhausted")

    gate = QuotaGate(probe=never, interval_s=10)
    gate.close("insufficient_quota")
    assert not await gate.wait_open(0.05)
    await gate.aclose()


def test_usage_shares_follow_weights_and_add_up() -> None:
    shares = split_usage([10, 30, 60], prompt=1001, completion=100)

    assert sum(s.prompt_tokens for s in shares) == 1001
    assert sum(s.completion_tokens for s in shares) == 100
    assert shares[2].prompt_tokens == 600
    assert shares[1].prompt_tokens == 300
