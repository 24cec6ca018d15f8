"""The AsyncAPI document shows broker addresses only in development."""

from __future__ import annotations

import orjson
import pytest

from docflow.common.settings import AppEnv
from docflow.ingest.asyncapi import build_specification
from docflow.ingest.settings import IngestSettings
from docflow.testing.production import SAFE_PRODUCTION

pytestmark = pytest.mark.unit

BROKERS = "kafka-0.internal.example:9092,kafka-1.internal.example:9092"


def _published(app_env: AppEnv, monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    if app_env is AppEnv.PRODUCTION and monkeypatch is not None:
        for name, value in SAFE_PRODUCTION.items():  # production refuses the local defaults
            monkeypatch.setenv(name, value)
    settings = IngestSettings(app_env=app_env, kafka_bootstrap_servers=BROKERS)
    return orjson.dumps(build_specification(settings).to_jsonable()).decode()


@pytest.mark.parametrize("app_env", [AppEnv.STAGING, AppEnv.PRODUCTION])
def test_broker_addresses_are_not_published_outside_development(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _published(app_env, monkeypatch)

    assert "internal.example" not in document
    assert "KAFKA_BOOTSTRAP_SERVERS" in document
    assert "documents.incoming" in document  # the topics are still described


def test_development_shows_the_brokers_it_uses() -> None:
    assert "kafka-0.internal.example:9092" in _published(AppEnv.DEVELOPMENT)
