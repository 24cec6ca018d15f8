"""API keys: their shape, their entropy, what is stored of them, and tenant names."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from docflow.common.identity.keys import (
    InvalidTenant,
    check_tenant,
    generate_key,
    hash_key,
    hash_matches,
    key_id_of,
)

pytestmark = pytest.mark.unit


def test_a_key_shows_its_prefix_and_id_and_carries_256_random_bits() -> None:
    new = generate_key()
    match = re.fullmatch(r"dfk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})", new.key)
    assert match is not None
    assert match.group(1) == new.key_id
    secret = base64.urlsafe_b64decode(match.group(2) + "=")
    assert len(secret) * 8 == 256


def test_keys_and_their_ids_do_not_repeat() -> None:
    keys = [generate_key() for _ in range(2000)]
    assert len({key.key for key in keys}) == len({key.key_id for key in keys}) == 2000


def test_only_the_sha256_of_the_whole_key_is_kept() -> None:
    new = generate_key()
    assert new.key_hash == hashlib.sha256(new.key.encode()).hexdigest()
    assert new.key not in new.key_hash
    assert hash_matches(hash_key(new.key), new.key_hash)
    assert not hash_matches(hash_key(new.key + "x"), new.key_hash)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "dfk_",
        "dfk_0123456789abcdef",
        "dfk_0123456789ABCDEF_" + "a" * 43,  # upper-case id
        "dfk_0123456789abcdef_" + "a" * 42,  # short secret
        "dfk_0123456789abcdef_" + "a" * 44,
        "xyz_0123456789abcdef_" + "a" * 43,
        "eyJhbGciOi.eyJzdWIiOi.c2ln",
    ],
)
def test_anything_not_shaped_like_a_key_has_no_key_id(token: str) -> None:
    assert key_id_of(token) is None


def test_a_well_formed_key_names_its_id() -> None:
    new = generate_key()
    assert key_id_of(new.key) == new.key_id


@pytest.mark.parametrize("name", ["default", "acme", "a", "team-7", "x_y", "0" * 63])
def test_valid_tenant_names(name: str) -> None:
    assert check_tenant(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "-lead", "_lead", "a b", "a.b", "é", "0" * 64])
def test_invalid_tenant_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidTenant):
        check_tenant(name)
