"""The alert rules pass `promtool check rules`, and every alert its `promtool test rules` story.

promtool is built by deploy/local/install.sh (`make test` installs first); without it these
tests skip and say so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERTS_TEST = MONITORING / "alerts_test.yaml"


def _promtool() -> str:
    cache = Path(os.environ.get("DOCFLOW_CACHE", REPO / ".cache"))
    built = cache / "bin" / "promtool"
    found = str(built) if built.exists() else shutil.which("promtool")
    if found is None:
        pytest.skip(f"promtool is not installed ({built}): run deploy/local/install.sh")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=MONITORING, capture_output=True, text=True, timeout=120
    )


def test_the_rules_pass_promtool_check() -> None:
    result = _run("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_passes_its_promtool_unit_tests() -> None:
    result = _run("test", "rules", ALERTS_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr


def _alert_names(rules: dict[str, object]) -> set[str]:
    groups = rules["groups"]
    assert isinstance(groups, list)
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_every_alert_has_a_unit_test() -> None:
    alerts = _alert_names(yaml.safe_load(ALERTS.read_text()))
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # a test where it fires, not only one where it stays quiet
    }
    assert alerts - tested == set()
    assert {
        "DocflowConsumerLagGrowing",
        "DocflowDeadLetters",
        "DocflowHigh5xxRatio",
        "DocflowProviderUnavailable",
        "DocflowProviderOutOfQuota",
        "DocflowOutboxBacklog",
        "DocflowReadinessFlapping",
    } <= alerts
