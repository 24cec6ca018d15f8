"""Copies deploy/monitoring's alert rules and dashboard into this kustomize component.

kustomize loads no file outside a kustomization's folder, so the PrometheusRule and the
dashboard ConfigMap are built from copies: `prometheusrule.yaml` wraps alerts.yaml's groups,
`dashboard.json` is the dashboard as it is. `--check` only reports whether the copies are
current (tests/deploy runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
MONITORING = HERE.parents[2] / "monitoring"
RULES, DASHBOARD = MONITORING / "alerts.yaml", MONITORING / "dashboard.json"

_HEADER = """\
# Generated from deploy/monitoring/alerts.yaml by sync.py in this folder: edit that file, then
# run `uv run python deploy/k8s/components/monitoring/sync.py`.
"""


def prometheus_rule(rules_file: str) -> str:
    """The PrometheusRule whose spec is the rules file's groups."""
    groups = yaml.safe_load(rules_file)["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "docflow"},
        "spec": {"groups": groups},
    }
    body: str = yaml.safe_dump(rule, sort_keys=False, width=100, allow_unicode=True)
    return _HEADER + body


def expected_copies() -> dict[Path, str]:
    """What this folder should hold, for each source file that exists."""
    copies: dict[Path, str] = {}
    if RULES.exists():
        copies[HERE / "prometheusrule.yaml"] = prometheus_rule(RULES.read_text(encoding="utf-8"))
    if DASHBOARD.exists():
        copies[HERE / "dashboard.json"] = DASHBOARD.read_text(encoding="utf-8")
    return copies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale copies, change none")
    args = parser.parse_args()
    stale = [p for p, text in expected_copies().items() if p.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(HERE)}")
        return 1 if stale else 0
    for path in stale:
        path.write_text(expected_copies()[path], encoding="utf-8")
        print(f"updated {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
