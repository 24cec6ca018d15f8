"""REDIS_URL=rediss://... reaches a real redis-server over TLS, with the certificate checked."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.exceptions import ConnectionError as RedisConnectionError

from docflow.common.clients import create_redis
from docflow.common.settings import CommonSettings
from docflow.testing import OwnServer, free_port

pytestmark = pytest.mark.integration


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_authority(directory: Path, name: str) -> None:
    """`name`.crt/.key: a CA valid for a day."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
        *("-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}"),
        cwd=directory,
    )


def make_server_certificate(directory: Path, *, authority: str) -> None:
    """server.crt/.key for 127.0.0.1, signed by `authority`."""
    _openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key"),
        *("-out", "server.csr", "-subj", "/CN=127.0.0.1"),
        cwd=directory,
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        *("x509", "-req", "-in", "server.csr", "-CA", f"{authority}.crt"),
        *("-CAkey", f"{authority}.key", "-CAcreateserial", "-days", "1"),
        *("-out", "server.crt", "-extfile", "san.ext"),
        cwd=directory,
    )


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[OwnServer, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificates for the TLS server")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run deploy/local/install.sh")
    certificates = tmp_path / "tls"
    make_authority(certificates, "ca")
    make_server_certificate(certificates, authority="ca")
    port = free_port()
    command = ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    command += ["--tls-cert-file", str(certificates / "server.crt")]
    command += ["--tls-key-file", str(certificates / "server.key")]
    command += ["--tls-ca-cert-file", str(certificates / "ca.crt"), "--tls-auth-clients", "no"]
    command += ["--requirepass", "tls-test-pass", "--save", "", "--appendonly", "no"]
    log_path = tmp_path / "redis.log"
    server = OwnServer("redis-tls", command, port=port, log_path=log_path)
    try:
        server.start(timeout_s=20)
    except RuntimeError:
        server.stop()
        if "Bad directive" in log_path.read_text(errors="replace"):
            pytest.skip("this redis-server was built without TLS (--tls-port is unknown)")
        raise
    yield server, certificates
    server.stop()


async def test_rediss_url_talks_tls_with_the_configured_authority(
    tls_redis: tuple[OwnServer, Path],
) -> None:
    server, certificates = tls_redis
    url = f"rediss://:tls-test-pass@127.0.0.1:{server.port}/0?ssl_ca_certs={certificates}/ca.crt"
    redis = create_redis(CommonSettings(redis_url=SecretStr(url)))
    try:
        await redis.set("docflow:tls", b"over tls")
        assert await redis.get("docflow:tls") == b"over tls"
    finally:
        await redis.aclose()


async def test_a_server_certificate_from_another_authority_is_refused(
    tls_redis: tuple[OwnServer, Path], tmp_path: Path
) -> None:
    server, _ = tls_redis
    make_authority(tmp_path / "other", "other")
    other_ca = tmp_path / "other" / "other.crt"
    url = f"rediss://:tls-test-pass@127.0.0.1:{server.port}/0?ssl_ca_certs={other_ca}"
    redis = create_redis(CommonSettings(redis_url=SecretStr(url)))
    try:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await redis.ping()
    finally:
        await redis.aclose()


async def test_plain_redis_url_cannot_talk_to_a_tls_port(tls_redis: tuple[OwnServer, Path]) -> None:
    server, _ = tls_redis
    url = f"redis://:tls-test-pass@127.0.0.1:{server.port}/0"
    redis = create_redis(CommonSettings(redis_url=SecretStr(url), redis_timeout_s=0.5))
    try:
        with pytest.raises(RedisConnectionError):
            await redis.ping()
    finally:
        await redis.aclose()
