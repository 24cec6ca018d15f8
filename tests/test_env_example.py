"""`.env.example` documents every setting of every service, each with a comment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from docflow.analysis.settings import AnalysisSettings
from docflow.ingest.settings import IngestSettings
from docflow.query.settings import QuerySettings

pytestmark = pytest.mark.unit

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def _documented() -> dict[str, bool]:
    """Variable name -> whether the line above it is a comment saying what it is for."""
    documented: dict[str, bool] = {}
    previous = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            documented[match.group(1)] = previous.startswith("# ")
        if line.strip():
            previous = line
    return documented


@pytest.mark.parametrize("settings_cls", [IngestSettings, AnalysisSettings, QuerySettings])
def test_every_setting_is_listed_with_a_comment(settings_cls: type[BaseSettings]) -> None:
    documented = _documented()
    internal = {"SERVICE_NAME"}  # fixed per service, not a setting
    missing = [
        name.upper()
        for name in settings_cls.model_fields
        if name.upper() not in documented and name.upper() not in internal
    ]
    assert missing == [], f"add to .env.example: {missing}"
    uncommented = [name for name, has_comment in documented.items() if not has_comment]
    assert uncommented == []


@pytest.mark.parametrize("settings_cls", [IngestSettings, AnalysisSettings, QuerySettings])
def test_the_example_loads_as_it_is(settings_cls: type[BaseSettings]) -> None:
    """A copied .env.example starts every service: blank values mean unset."""
    settings_cls(_env_file=ENV_EXAMPLE)
