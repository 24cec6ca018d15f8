"""The Grafana dashboard is valid JSON, and every query in it, and in the alert rules, names
metrics the services export: a renamed metric fails here, not on an operator's empty graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.deploy.exported_metrics import exported_metric_names, metrics_named_in

pytestmark = pytest.mark.unit

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def test_the_dashboard_is_json_with_a_query_on_every_graph() -> None:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    graphs = [panel for panel in _panels(dashboard) if panel["type"] != "row"]
    assert graphs
    assert all(target["expr"] for panel in graphs for target in panel["targets"])
    assert len({panel["id"] for panel in _panels(dashboard)}) == len(_panels(dashboard))


def test_every_dashboard_query_names_metrics_that_exist() -> None:
    exported = exported_metric_names()
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    unknown = {}
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            named = metrics_named_in(target["expr"])
            if not named or named - exported:
                unknown[f"{panel['title']} / {target['refId']}"] = sorted(named - exported)
    assert unknown == {}


def test_every_alert_names_metrics_that_exist() -> None:
    exported = exported_metric_names()
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    unknown = {
        rule["alert"]: sorted(metrics_named_in(rule["expr"]) - exported)
        for group in rules["groups"]
        for rule in group["rules"]
        if not metrics_named_in(rule["expr"]) or metrics_named_in(rule["expr"]) - exported
    }
    assert unknown == {}


def test_a_metric_nobody_exports_is_caught() -> None:
    assert metrics_named_in("rate(docflow_no_such_thing_total[5m])") - exported_metric_names()
