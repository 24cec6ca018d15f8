"""Bodies in the logs (LOG_BODIES): redaction, truncation, summaries, and when they are written."""

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docflow.common.http_bodies import REDACTED, Body, BodyLog, Redactor
from docflow.common.middleware import RequestContextMiddleware
from docflow.common.settings import DEFAULT_REDACTED_FIELDS, AppEnv, CommonSettings, LogBodies
from docflow.testing import json_log_lines

pytestmark = pytest.mark.unit

JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
redactor = Redactor(DEFAULT_REDACTED_FIELDS)


def body_of(data: bytes) -> Body:
    body = Body()
    for start in range(0, len(data), 7):  # as several receive messages
        body.keep(data[start : start + 7])
    return body


def test_fields_are_hidden_by_name_suffix_in_any_case_and_spelling() -> None:
    for name in ("password", "api_key", "apiKey", "X-API-Key", "access_token", "Content", "cookie"):
        assert redactor.hides(name), name
    for name in ("title", "content_type", "prompt_tokens", "status", "id"):
        assert not redactor.hides(name), name


def test_json_is_redacted_at_any_depth_and_keeps_the_rest() -> None:
    document = {
        "title": "Q3",
        "content": "the secret text",
        "metadata": {"owner": "ana", "auth": {"password": "hunter2", "token": "t"}},
        "documents": [{"content": "more text", "source": "crm"}],
    }
    assert redactor.json_value(document) == {
        "title": "Q3",
        "content": REDACTED,
        "metadata": {"owner": "ana", "auth": {"password": REDACTED, "token": REDACTED}},
        "documents": [{"content": REDACTED, "source": "crm"}],
    }


def test_a_redacted_object_is_hidden_whole() -> None:
    assert redactor.json_value({"secret": {"inner": "x"}}) == {"secret": REDACTED}


def test_deep_json_is_cut_rather_than_overflowing_the_stack() -> None:
    nested: object = "leaf"
    for _ in range(900):
        nested = [nested]
    entry = body_of(json.dumps({"deep": nested}).encode()).describe(
        JSON_HEADERS, redactor=redactor, max_bytes=10_000
    )
    assert "[...]" in entry["body"]


def test_headers_that_carry_credentials_are_always_redacted() -> None:
    shown = Redactor([]).headers(
        [
            (b"Authorization", b"Bearer dfk_abc"),
            (b"cookie", b"session=1"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"x-api-key", b"dfk_abc"),
            (b"user-agent", b"curl/8"),
        ]
    )
    assert shown == {
        "authorization": REDACTED,
        "cookie": REDACTED,
        "set-cookie": f"{REDACTED}, {REDACTED}",
        "x-api-key": REDACTED,
        "user-agent": "curl/8",
    }
    assert Redactor(["signature"]).headers([(b"x-signature", b"abc")]) == {"x-signature": REDACTED}


def test_a_long_json_body_is_cut_at_the_limit_after_redaction() -> None:
    data = json.dumps({"title": "é" * 500, "content": "c" * 5000}).encode()
    entry = body_of(data).describe(JSON_HEADERS, redactor=redactor, max_bytes=100)
    assert entry["bytes"] == len(data)
    assert entry["truncated"] is True
    assert len(entry["body"].encode()) <= 100  # cut on a character boundary
    assert entry["body"].startswith('{"title":"éé')
    short = body_of(data).describe(JSON_HEADERS, redactor=redactor, max_bytes=5000)
    assert json.loads(short["body"])["content"] == REDACTED
    assert "truncated" not in short


def test_other_bodies_are_summarised_by_type_and_size_only() -> None:
    upload = b"--b\r\ncontent-disposition: form-data; name=file\r\n\r\nconfidential\r\n--b--"
    multipart = [(b"content-type", b"multipart/form-data; boundary=b")]
    entry = body_of(upload).describe(multipart, redactor=redactor, max_bytes=2048)
    assert entry == {
        "content_type": "multipart/form-data",
        "bytes": len(upload),
        "omitted": "not JSON",
    }
    broken = body_of(b'{"content": "half').describe(JSON_HEADERS, redactor=redactor, max_bytes=2048)
    assert broken["omitted"] == "invalid JSON"
    assert "body" not in broken
    assert Body().describe(JSON_HEADERS, redactor=redactor, max_bytes=2048)["bytes"] == 0


def test_a_body_beyond_the_capture_limit_is_summarised() -> None:
    huge = body_of(b"[" + b"1," * 600_000 + b"1]")
    entry = huge.describe(JSON_HEADERS, redactor=redactor, max_bytes=2048)
    assert entry["omitted"] == "too large to redact"


def test_the_default_depends_on_the_environment_and_off_captures_nothing() -> None:
    assert CommonSettings(app_env=AppEnv.DEVELOPMENT).body_logging is LogBodies.ERRORS
    assert CommonSettings(app_env=AppEnv.STAGING).body_logging is LogBodies.OFF
    assert CommonSettings(log_bodies=LogBodies.ALL).body_logging is LogBodies.ALL
    assert BodyLog.from_settings(CommonSettings(log_bodies=LogBodies.OFF)) is None


def test_redacted_fields_are_read_as_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_REDACT_FIELDS", "password, ssn")
    monkeypatch.setenv("LOG_BODIES", "")
    settings = CommonSettings()
    assert settings.log_redact_fields == ["password", "ssn"]
    assert settings.log_bodies is None


def build_app(mode: LogBodies) -> FastAPI:
    app = FastAPI()

    @app.post("/echo/{name}")
    async def echo(name: str, request: Request) -> JSONResponse:
        payload = await request.json()
        status = int(payload.get("status", 200))
        return JSONResponse({"name": name, "token": "issued", "ok": status < 400}, status)

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"stored": True}, 202)

    body_log = BodyLog.from_settings(CommonSettings(log_bodies=mode, log_body_max_bytes=256))
    app.add_middleware(
        RequestContextMiddleware, service="unit", production_like=False, body_log=body_log
    )
    return app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
    return httpx.AsyncClient(transport=transport, base_url="http://unit")


async def exchanges(mode: LogBodies, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON log lines written while the app of `mode` answered these POSTs."""
    async with client_of(build_app(mode)) as http:
        with json_log_lines() as lines:
            for request in requests:
                await http.post(**request)
    return lines


def of(logger: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == logger]


async def test_the_access_line_names_route_client_agent_and_sizes() -> None:
    sent = b'{"x": 1}'
    lines = await exchanges(
        LogBodies.OFF, {"url": "/echo/a", "content": sent, "headers": {"user-agent": "probe/1"}}
    )
    [access] = of("docflow.access", lines)
    assert access["route"] == "/echo/{name}"
    assert access["client"] == "203.0.113.7"
    assert access["user_agent"] == "probe/1"
    assert access["request_bytes"] == len(sent)
    assert access["response_bytes"] == len(b'{"name":"a","token":"issued","ok":true}')
    assert of("docflow.bodies", lines) == []


async def test_all_writes_every_exchange_redacted() -> None:
    lines = await exchanges(
        LogBodies.ALL,
        {
            "url": "/echo/a",
            "json": {"title": "T", "content": "private words"},
            "headers": {"authorization": "Bearer dfk_live_secret"},
        },
        {"url": "/upload", "files": {"file": ("a.txt", b"private words", "text/plain")}},
    )
    text = json.dumps(lines)
    assert "private words" not in text
    assert "dfk_live_secret" not in text
    echo, upload = of("docflow.bodies", lines)
    request, response = echo["request"], echo["response"]
    assert request["headers"]["authorization"] == REDACTED
    assert json.loads(request["body"]) == {"title": "T", "content": REDACTED}
    assert json.loads(response["body"]) == {"name": "a", "token": REDACTED, "ok": True}
    # Seen as sent, after the middleware added its own headers.
    assert response["headers"]["x-request-id"] == echo["request_id"]
    assert upload["request"]["content_type"] == "multipart/form-data"
    assert upload["request"]["omitted"] == "not JSON"


async def test_errors_writes_only_the_exchanges_answered_4xx_or_5xx() -> None:
    lines = await exchanges(
        LogBodies.ERRORS,
        {"url": "/echo/fine", "json": {"status": 200}},
        {"url": "/echo/refused", "json": {"status": 409, "why": "conflict"}},
    )
    [written] = of("docflow.bodies", lines)
    assert written["status"] == 409
    assert json.loads(written["request"]["body"]) == {"status": 409, "why": "conflict"}
