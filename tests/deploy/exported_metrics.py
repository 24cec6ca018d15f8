"""The names of every metric the services export, read from prometheus_client's registry.

Every module of ours that defines metrics (it imports prometheus_client) is imported, which
registers them; then each registered family's sample names are derived from its type, the way
the text format spells them (a counter `x` is scraped as `x_total`, a histogram as `x_bucket`,
`x_sum`, `x_count`).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "libs" / "common" / "src", *sorted((REPO / "services").glob("*/src"))]
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
}
# A metric name in PromQL: all of ours start with `docflow_`.
_METRIC = re.compile(r"\bdocflow_[a-zA-Z0-9_:]*")


def _metric_modules() -> list[str]:
    modules = []
    for source in SOURCES:
        for path in source.rglob("*.py"):
            if "prometheus_client import" in path.read_text():
                modules.append(".".join(path.relative_to(source).with_suffix("").parts))
    return modules


def exported_metric_names() -> set[str]:
    for module in _metric_modules():
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("docflow_"):
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def metrics_named_in(promql: str) -> set[str]:
    return set(_METRIC.findall(promql))
