"""Every shell script of the repository parses: a broken install.sh fails `make test` before it
can fail a fresh machine's `make run` (a merge once left a function without its closing brace)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _scripts() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.sh", ".ci/run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    return [ROOT / name for name in listed]


@pytest.mark.parametrize("script", _scripts(), ids=lambda path: str(path.relative_to(ROOT)))
def test_script_parses(script: Path) -> None:
    checked = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
