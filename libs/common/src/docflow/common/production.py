"""What `APP_ENV=production` refuses: each rule returns messages that name the setting.

The settings validator (settings.py) calls these; a process with an unsafe value stops at
startup instead of serving with it. No message echoes a value: URIs may hold passwords.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from docflow.common.settings import CommonSettings

# Values copied from templates (.env.example, .env.secret.example, documentation).
_PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "password", "secret", "example", "xxx", "sk-...", "sk-xxx"}
)
# MongoDB mechanisms whose credentials are not a password in the URI (certificate, cloud role).
_PASSWORDLESS_MONGO_AUTH = frozenset({"MONGODB-X509", "MONGODB-AWS", "MONGODB-OIDC"})
_TRUE = frozenset({"true", "1", "yes"})


def is_placeholder(secret: str) -> bool:
    """True for a value that was never replaced by a real secret."""
    lowered = secret.strip().lower()
    return (
        lowered in _PLACEHOLDERS
        or lowered.startswith(("sk-...", "sk-xxxx", "<"))
        or "changeme" in lowered
        or "your" in lowered
    )


def _options(query: str) -> dict[str, str]:
    """URI options with lower-cased names (MongoDB and redis-py match them case-insensitively)."""
    return {name.lower(): value.lower() for name, value in parse_qsl(query)}


def mongodb_problems(uri: str) -> list[str]:
    parts = urlsplit(uri)
    options = _options(parts.query)
    problems = []
    passwordless = options.get("authmechanism", "").upper() in _PASSWORDLESS_MONGO_AUTH
    if not passwordless:
        if not parts.username or parts.password is None:
            problems.append("MONGODB_URI must carry credentials (user:password@) in production")
        elif is_placeholder(unquote(parts.password)):
            problems.append("MONGODB_URI holds a placeholder password")
    # mongodb+srv:// turns TLS on unless the URI turns it off.
    tls_default = "true" if parts.scheme == "mongodb+srv" else "false"
    tls = options.get("tls", options.get("ssl", tls_default))
    if tls not in _TRUE:
        problems.append("MONGODB_URI must use TLS (tls=true or mongodb+srv://) in production")
    insecure = ("tlsinsecure", "tlsallowinvalidcertificates", "tlsallowinvalidhostnames")
    if any(options.get(name) in _TRUE for name in insecure):
        problems.append("MONGODB_URI may not disable certificate checks in production")
    return problems


def redis_problems(url: str) -> list[str]:
    parts = urlsplit(url)
    problems = []
    if parts.scheme != "rediss":
        problems.append("REDIS_URL must use TLS (rediss://) in production")
    if not parts.password:
        problems.append("REDIS_URL must carry a password (rediss://:password@) in production")
    elif is_placeholder(unquote(parts.password)):
        problems.append("REDIS_URL holds a placeholder password")
    if _options(parts.query).get("ssl_cert_reqs") in {"none", "optional"}:
        problems.append("REDIS_URL may not disable certificate checks in production")
    return problems


def kafka_credential_problems(settings: CommonSettings) -> list[str]:
    """In every environment: SASL needs a user and a password."""
    if not settings.kafka_security_protocol.uses_sasl:
        return []
    problems = []
    if not settings.kafka_sasl_username:
        problems.append(f"KAFKA_SASL_USERNAME is required with {settings.kafka_security_protocol}")
    if settings.kafka_sasl_password is None:
        problems.append(f"KAFKA_SASL_PASSWORD is required with {settings.kafka_security_protocol}")
    return problems


def kafka_problems(settings: CommonSettings) -> list[str]:
    protocol = settings.kafka_security_protocol
    if not protocol.uses_tls:
        return ["KAFKA_SECURITY_PROTOCOL must be SASL_SSL (or SSL with a client certificate)"]
    if protocol.uses_sasl:
        password = settings.kafka_sasl_password
        if password is not None and is_placeholder(password.get_secret_value()):
            return ["KAFKA_SASL_PASSWORD holds a placeholder value"]
        return []
    if not (settings.kafka_ssl_certfile and settings.kafka_ssl_keyfile):
        return ["KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE are required with SSL in production"]
    return []


def production_problems(settings: CommonSettings) -> list[str]:
    return (
        mongodb_problems(settings.mongodb_uri.get_secret_value())
        + redis_problems(settings.redis_url.get_secret_value())
        + kafka_problems(settings)
    )
