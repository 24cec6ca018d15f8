from __future__ import annotations

import pytest

from docflow.testing.plans import _plan_problem

pytestmark = pytest.mark.unit


def test_sqlite_plans_that_scan_or_sort_after_reading_are_problems() -> None:
    indexed = {"Plan": ["id=4 parent=0 notused=0 detail=SEARCH t USING INDEX t_s (<expr>=?)"]}
    walked = {"Plan": ["id=3 parent=0 notused=0 detail=SCAN t USING INDEX t_created"]}
    scanned = {"Plan": ["id=2 parent=0 notused=0 detail=SCAN t"]}
    sorted_after = {
        "Plan": [
            "id=4 parent=0 notused=0 detail=SEARCH t USING INDEX t_s (<expr>=?)",
            "id=9 parent=0 notused=0 detail=USE TEMP B-TREE FOR ORDER BY",
        ]
    }

    assert _plan_problem(indexed) is None
    assert _plan_problem(walked) is None
    assert _plan_problem(scanned) == "id=2 parent=0 notused=0 detail=SCAN t"
    assert "TEMP B-TREE" in (_plan_problem(sorted_after) or "")


def test_mongodb_plans_with_a_collection_scan_or_a_blocking_sort_are_problems() -> None:
    index_scan = {"winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN"}}}
    or_with_scan = {
        "winningPlan": {
            "stage": "SUBPLAN",
            "inputStage": {
                "stage": "OR",
                "inputStages": [{"stage": "IXSCAN"}, {"stage": "COLLSCAN"}],
            },
        }
    }
    sorted_in_memory = {"winningPlan": {"stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}}

    assert _plan_problem(index_scan) is None
    assert _plan_problem(or_with_scan) == "COLLSCAN"
    assert _plan_problem(sorted_in_memory) == "COLLSCAN, SORT"
