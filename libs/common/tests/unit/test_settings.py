import pytest

from docflow.common.events import Topic
from docflow.common.settings import AppEnv, CommonSettings, SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "staging")
    monkeypatch.setenv("MONGODB_DATABASE", "reports")
    settings = load_settings(CommonSettings)
    assert settings.app_env is AppEnv.STAGING
    assert settings.mongodb_database == "reports"


def test_bad_variable_stops_startup_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PORT", "not-a-port")
    with pytest.raises(SettingsError) as raised:
        load_settings(CommonSettings)
    message = str(raised.value)
    assert message.startswith("invalid configuration: HTTP_PORT:")
    assert "\n" not in message


def test_wildcard_cors_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("CORS_ORIGINS", "*")
    with pytest.raises(SettingsError, match="CORS_ORIGINS may not contain"):
        load_settings(CommonSettings)


def test_wildcard_cors_is_allowed_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "*")
    assert load_settings(CommonSettings).cors_origins == ["*"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ('["https://a.example"]', ["https://a.example"]),
    ],
)
def test_cors_origins_accept_lists_and_comma_strings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert load_settings(CommonSettings).cors_origins == expected


def test_topic_names_carry_the_suffix() -> None:
    settings = CommonSettings(kafka_topic_suffix=".t1")
    assert settings.topic(Topic.INGESTED) == "documents.ingested.t1"
    assert CommonSettings().topic(Topic.DLQ) == "documents.dlq"


def test_secrets_do_not_appear_in_repr() -> None:
    settings = CommonSettings(mongodb_uri="mongodb://user:hunter2@db:27017")
    assert "hunter2" not in repr(settings)
