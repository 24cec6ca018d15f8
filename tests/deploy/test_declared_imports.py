"""Every third-party module a workspace member imports is declared in its own pyproject.

A dependency that only arrives through another member (or through another package's extra)
works until that other declaration changes; then the service fails at import time.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MEMBERS = ["libs/common", "services/ingest", "services/analysis", "services/query"]
OURS = {"docflow"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(member: str) -> set[str]:
    """Distribution names in `dependencies` and every optional extra."""
    project = tomllib.loads((REPO / member / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {
        _normalized(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0])
        for requirement in requirements
    }


def _imported(member: str) -> dict[str, set[str]]:
    """Top-level third-party module -> the files of `member`'s src that import it."""
    found: dict[str, set[str]] = {}
    for path in (REPO / member / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OURS and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("member", MEMBERS)
def test_every_third_party_import_is_declared(member: str) -> None:
    distributions = packages_distributions()
    declared = _declared(member)

    undeclared = {
        module: sorted(files)
        for module, files in _imported(member).items()
        if not {_normalized(name) for name in distributions.get(module, [module])} & declared
    }

    assert undeclared == {}, f"add to {member}/pyproject.toml"
