"""API keys: their format, how they are made and hashed, and what a tenant may be called.

A key reads `dfk_<key id>_<secret>`: the prefix makes a leaked key easy to recognise (secret
scanners, logs), the key id names the stored record without revealing anything, and the secret
is 256 random bits from `secrets`. Only the SHA-256 of the whole key is stored: the key is random
and long, so a fast hash cannot be brute-forced, and a slow one (argon2, bcrypt) would cost
milliseconds on every cache miss for no gain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

KEY_PREFIX = "dfk"
_KEY_ID_BYTES = 8  # 16 hex characters: unique among keys, and the `_id` of the stored record
_SECRET_BYTES = 32  # 256 bits of secret
_KEY = re.compile(r"^dfk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
KEY_ID = re.compile(r"^[0-9a-f]{16}$")

# Lower-case letters, digits, `_` and `-`, starting with a letter or digit, at most 63
# characters: safe in a Redis key, a Mongo field, a metric label and a URL without escaping.
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: the tenant every read and write is scoped to, and the credential used.

    `key_id` is the API key's id, or `oidc:<subject>` for a token from the identity provider;
    it names the caller in rate limits and logs and is never a secret.
    """

    tenant: str
    key_id: str
    method: Literal["api_key", "oidc"] = "api_key"


class InvalidTenant(ValueError):
    """A tenant name outside `TENANT_NAME`."""


def check_tenant(name: str) -> str:
    if TENANT_NAME.fullmatch(name) is None:
        raise InvalidTenant(
            f"invalid tenant name {name!r}: lower-case letters, digits, '_' and '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return name


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    key: str  # shown once, to whoever created it

    @property
    def key_hash(self) -> str:
        return hash_key(self.key)


def generate_key() -> NewKey:
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return NewKey(key_id=key_id, key=f"{KEY_PREFIX}_{key_id}_{secret}")


def key_id_of(token: str) -> str | None:
    """The key id of a well-formed key, None for anything else (no lookup is worth making)."""
    match = _KEY.match(token)
    return match.group(1) if match else None


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_matches(token_hash: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash.encode(), stored_hash.encode())
