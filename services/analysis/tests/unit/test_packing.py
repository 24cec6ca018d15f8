"""Token estimates, the truncation rule and packing documents into requests."""

from __future__ import annotations

import pytest

from docflow.analysis.providers.base import DocumentInput
from docflow.analysis.providers.inputs import clean_text, prepare_document, truncate
from docflow.analysis.providers.openai.packing import Packer
from docflow.analysis.providers.tokens import TokenEstimator, chars_estimate

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def chars_estimate_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tiktoken's cache the estimate is ceil(chars / 4) + 1, which these figures use."""
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)


def _packer(**overrides: int) -> Packer:
    values = {
        "max_tokens_per_request": 4000,
        "max_documents_per_request": 5,
        "completion_tokens_per_document": 100,
        **overrides,
    }
    return Packer(estimator=TokenEstimator(), **values)


def _docs(count: int, *, chars: int = 200) -> list[DocumentInput]:
    return [DocumentInput(f"d{i}", "t", "x" * chars) for i in range(count)]


def test_chars_estimate_rounds_up() -> None:
    assert chars_estimate("") == 1
    assert chars_estimate("abcde") == 3


def test_estimator_learns_from_usage_but_never_estimates_lower() -> None:
    estimator = TokenEstimator()
    estimator.reconcile(estimated=100, actual=200)
    assert estimator.correction > 1.0
    high = estimator.correction
    estimator.reconcile(estimated=100, actual=10)
    assert 1.0 <= estimator.correction < high


def test_short_text_is_not_truncated() -> None:
    text, truncated = truncate("short text", max_tokens=100, estimator=TokenEstimator())
    assert (text, truncated) == ("short text", False)


def test_long_text_keeps_head_and_tail_with_a_marker() -> None:
    text = "H" * 3000 + "M" * 6000 + "T" * 3000
    estimator = TokenEstimator()

    result, truncated = truncate(text, max_tokens=600, estimator=estimator)

    assert truncated
    assert result.startswith("HHHH")
    assert result.endswith("TTTT")
    assert "characters omitted" in result
    assert estimator.text(result) <= 600


def test_control_characters_are_removed_but_newlines_kept() -> None:
    assert clean_text("a\x00b\x1bc\nd\te\x7f") == "abc\nd\te"


def test_prepared_document_carries_title_and_truncation_flag() -> None:
    document = prepare_document(
        document_id="d",
        tenant_id="t",
        title="Title",
        content="body " * 5000,
        max_tokens=200,
        estimator=TokenEstimator(),
    )
    assert document.text.startswith("Title\n\nbody")
    assert document.truncated


def test_packing_respects_the_document_limit() -> None:
    plans = _packer().pack(_docs(12))
    assert [len(p.documents) for p in plans] == [5, 5, 2]


def test_packing_respects_the_token_budget() -> None:
    packer = _packer(max_tokens_per_request=1500)
    plans = packer.pack(_docs(10, chars=1600))  # ~400 tokens + 100 completion each

    assert all(p.total_tokens <= 1500 for p in plans)
    assert sum(len(p.documents) for p in plans) == 10
    assert all(len(p.documents) >= 1 for p in plans)


def test_a_document_over_budget_still_goes_out_alone() -> None:
    plans = _packer(max_tokens_per_request=600).pack(_docs(2, chars=8000))
    assert [len(p.documents) for p in plans] == [1, 1]


def test_retries_are_packed_one_per_request() -> None:
    plans = _packer().pack(_docs(3), alone=True)
    assert [len(p.documents) for p in plans] == [1, 1, 1]


def test_plan_reserves_completion_per_document() -> None:
    (plan,) = _packer().pack(_docs(3))
    assert plan.completion_tokens == 3 * 100 + 20
    assert plan.prompt_tokens > 3 * 50


def test_completion_reserve_follows_observed_result_length_within_bounds() -> None:
    estimator = TokenEstimator()
    assert estimator.completion_reserve(ceiling=300) == 300  # nothing observed yet

    estimator.observe_completion(tokens=700, documents=10, truncated=False)
    assert estimator.completion_reserve(ceiling=300) == 105  # 1.5 x 70

    estimator.observe_completion(tokens=10, documents=10, truncated=False)
    assert estimator.completion_reserve(ceiling=300) >= 64

    estimator.observe_completion(tokens=1000, documents=5, truncated=True)
    assert estimator.completion_reserve(ceiling=300) == 300  # cut off: reserve more


def _mixed(count: int, *, tenants: int, chars: int = 200) -> list[DocumentInput]:
    """Documents of `tenants` tenants, mixed uniformly (round robin) in arrival order."""
    return [DocumentInput(f"d{i}", f"t{i % tenants}", "x" * chars) for i in range(count)]


def test_no_request_mixes_tenants() -> None:
    plans = _packer().pack(_mixed(30, tenants=3))

    assert all({d.tenant_id for d in p.documents} == {p.tenant_id} for p in plans)
    assert len(plans) >= 3
    assert sorted(d.document_id for p in plans for d in p.documents) == sorted(
        f"d{i}" for i in range(30)
    )


def test_one_tenants_documents_still_share_requests() -> None:
    plans = _packer().pack(_mixed(12, tenants=2))
    assert [(p.tenant_id, len(p.documents)) for p in plans] == [
        ("t0", 5),
        ("t0", 1),
        ("t1", 5),
        ("t1", 1),
    ]


def test_a_tenant_keeps_its_documents_in_arrival_order() -> None:
    (first, second) = _packer().pack(_mixed(6, tenants=2))
    assert [d.document_id for d in first.documents] == ["d0", "d2", "d4"]
    assert [d.document_id for d in second.documents] == ["d1", "d3", "d5"]


def test_retries_alone_carry_their_tenant() -> None:
    plans = _packer().pack(_mixed(4, tenants=2), alone=True)
    assert [(p.tenant_id, [d.document_id for d in p.documents]) for p in plans] == [
        ("t0", ["d0"]),
        ("t0", ["d2"]),
        ("t1", ["d1"]),
        ("t1", ["d3"]),
    ]


@pytest.mark.parametrize(
    ("tenants", "requests_per_100"),
    # Mixing tenants in a request would need 7 for any mix.
    [(1, 7), (5, 10), (50, 50)],
)
def test_what_one_tenant_per_request_costs(tenants: int, requests_per_100: int) -> None:
    """The README's table: requests per 100 short documents (~50 tokens) packed at once,
    with the default settings."""
    packer = _packer(
        max_tokens_per_request=8000,
        max_documents_per_request=16,
        completion_tokens_per_document=300,
    )
    assert len(packer.pack(_mixed(100, tenants=tenants))) == requests_per_100
