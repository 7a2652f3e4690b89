"""Tests for quietline.vault: the passphrase-encrypted vault of fixed size.

Round trips through create, open and save; the size never changes whatever the vault
holds, and a random fill is as big as a real vault and as closed to a guess; a full
vault refuses one byte more and keeps its old contents; every damaged, truncated or
crafted file raises VaultLocked and nothing else. Key derivation runs at libsodium's
minimum cost so the properties stay fast.
"""

import json
import os
import stat
import struct
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.pwhash
import nacl.utils
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quietline.vault import (
    HEADER_LEN,
    LENGTH_LEN,
    MAC_LEN,
    NONCE_LEN,
    SALT_LEN,
    KdfCost,
    Vault,
    VaultFull,
    VaultLocked,
)

# Argon2id at its floor: these tests check the vault's layout, not the KDF's strength.
CHEAP = KdfCost(nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
SIZE = 512
ROOM = SIZE - HEADER_LEN - MAC_LEN - LENGTH_LEN
PASSPHRASE = "correct horse battery staple"
# json.dumps({"k": ""}, separators=(",", ":")) is 8 bytes; each character of the value adds one.
EMPTY_ENTRY_LEN = len('{"k":""}')

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


def _vault(tmp_path: Path, size: int = SIZE) -> Vault:
    return Vault(tmp_path / "vault", size, CHEAP)


def _entry_of_length(body_len: int) -> dict[str, Any]:
    """An object whose compact JSON is exactly ``body_len`` bytes."""
    return {"k": "x" * (body_len - EMPTY_ENTRY_LEN)}


def _sealed(vault: Vault, key: bytes, plain: bytes) -> bytes:
    """A vault file holding ``plain`` under ``key`` with this vault's salt: authentic bytes
    whose inside is whatever the test wants."""
    salt = vault.path.read_bytes()[:SALT_LEN]
    nonce = nacl.utils.random(NONCE_LEN)
    return salt + nonce + bytes(sodium.crypto_secretbox(plain, nonce, key))


def _padded(length_field: int, body: bytes) -> bytes:
    """A plaintext of the full room: the length field, ``body``, then zeros."""
    return struct.pack(">I", length_field) + body + bytes(ROOM - len(body))


# --- round trips ------------------------------------------------------------------------


def test_a_created_vault_opens_with_its_passphrase_and_gives_the_same_key(
    tmp_path: Path,
) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {"name": "news desk", "count": 3})
    contents, opened_key = vault.open(PASSPHRASE)
    assert contents == {"name": "news desk", "count": 3}
    assert opened_key == key
    assert vault.open_with_key(key) == contents


def test_a_saved_vault_opens_with_the_passphrase_and_with_the_key_from_open_or_create(
    tmp_path: Path,
) -> None:
    vault = _vault(tmp_path)
    created_key = vault.create(PASSPHRASE, {"version": 1})
    vault.save(created_key, {"version": 2})
    contents, opened_key = vault.open(PASSPHRASE)
    assert contents == {"version": 2}
    vault.save(opened_key, {"version": 3})
    assert vault.open(PASSPHRASE)[0] == {"version": 3}
    assert vault.open_with_key(created_key) == {"version": 3}


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=json_objects)
def test_any_json_object_that_fits_round_trips(tmp_path: Path, contents: dict[str, Any]) -> None:
    vault = Vault(tmp_path / "vault", 4096, CHEAP)
    key = vault.create(PASSPHRASE, contents)
    assert vault.open(PASSPHRASE) == (contents, key)
    vault.save(key, {})
    vault.save(key, contents)
    assert vault.open_with_key(key) == contents


def test_the_smallest_vault_holds_exactly_an_empty_object(tmp_path: Path) -> None:
    smallest = HEADER_LEN + MAC_LEN + LENGTH_LEN + 2
    with pytest.raises(ValueError, match="larger than its header"):
        Vault(tmp_path / "vault", smallest - 1, CHEAP)
    vault = Vault(tmp_path / "vault", smallest, CHEAP)
    key = vault.create(PASSPHRASE, {})
    assert vault.open(PASSPHRASE)[0] == {}
    with pytest.raises(VaultFull):
        vault.save(key, {"": 0})


# --- fixed size ---------------------------------------------------------------------------


def test_random_bytes_of_a_vaults_size_do_not_open(tmp_path: Path) -> None:
    real, fresh = _vault(tmp_path / "real"), _vault(tmp_path / "fresh")
    real.create(PASSPHRASE, {"secret": "yes"})
    fresh.path.parent.mkdir(parents=True)
    fresh.path.write_bytes(os.urandom(SIZE))
    assert real.path.stat().st_size == SIZE
    with pytest.raises(VaultLocked):
        fresh.open(PASSPHRASE)
    with pytest.raises(VaultLocked):
        fresh.open("")


def test_the_size_never_changes_whatever_the_vault_holds(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    sizes = {vault.path.stat().st_size}
    for contents in ({}, {"a": 1}, {"list": list(range(50))}, _entry_of_length(ROOM), {}):
        vault.save(key, contents)
        sizes.add(vault.path.stat().st_size)
        assert vault.open_with_key(key) == contents
    assert sizes == {SIZE}


def test_saving_keeps_the_salt_and_draws_a_fresh_nonce(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {"a": 1})
    first = vault.path.read_bytes()
    vault.save(key, {"a": 1})
    second = vault.path.read_bytes()
    assert first[:SALT_LEN] == second[:SALT_LEN]  # the salt is kept, so the key is too
    assert first[SALT_LEN:HEADER_LEN] != second[SALT_LEN:HEADER_LEN]  # a fresh nonce
    assert first[HEADER_LEN:] != second[HEADER_LEN:]


# --- a full vault -------------------------------------------------------------------------


def test_contents_that_exactly_fill_the_room_are_accepted(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    contents = _entry_of_length(ROOM)
    assert len(json.dumps(contents, separators=(",", ":")).encode()) == ROOM
    key = vault.create(PASSPHRASE, contents)
    assert vault.open_with_key(key) == contents


def test_a_full_vault_refuses_one_more_byte_and_keeps_the_old_contents(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {"kept": True})
    before = vault.path.read_bytes()
    with pytest.raises(VaultFull, match=f"at most {ROOM} bytes"):
        vault.save(key, _entry_of_length(ROOM + 1))
    assert vault.path.read_bytes() == before
    assert vault.open(PASSPHRASE)[0] == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["vault"]  # no temporary file left


def test_create_refuses_contents_too_big_and_writes_nothing(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    with pytest.raises(VaultFull):
        vault.create(PASSPHRASE, _entry_of_length(ROOM + 1))
    assert not vault.exists()


def test_room_counts_encoded_bytes_not_characters(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    # Non-ASCII is written as \uXXXX: six bytes of room for each character.
    fits = {"k": "é" * ((ROOM - EMPTY_ENTRY_LEN) // 6)}
    vault.save(key, fits)
    assert vault.open_with_key(key) == fits
    with pytest.raises(VaultFull):
        vault.save(key, {"k": "é" * ((ROOM - EMPTY_ENTRY_LEN) // 6 + 1)})


# --- files that do not open ---------------------------------------------------------------


def test_a_wrong_passphrase_does_not_open_the_vault(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    vault.create(PASSPHRASE, {"secret": 1})
    with pytest.raises(VaultLocked):
        vault.open(PASSPHRASE + " ")
    with pytest.raises(VaultLocked):
        vault.open_with_key(bytes(32))


@pytest.mark.parametrize("change", [-1, +1, -SIZE, -(SIZE - HEADER_LEN), +SIZE])
def test_a_file_of_the_wrong_size_does_not_open(tmp_path: Path, change: int) -> None:
    vault = _vault(tmp_path)
    vault.create(PASSPHRASE, {"a": 1})
    raw = vault.path.read_bytes()
    vault.path.write_bytes(raw[: SIZE + change] if change < 0 else raw + bytes(change))
    with pytest.raises(VaultLocked, match="wrong size"):
        vault.open(PASSPHRASE)


@pytest.mark.parametrize("length", [0, 1, SALT_LEN, HEADER_LEN, HEADER_LEN + MAC_LEN, SIZE - 1])
def test_a_truncated_file_does_not_open_with_the_key_either(tmp_path: Path, length: int) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {"a": 1})
    vault.path.write_bytes(vault.path.read_bytes()[:length])
    with pytest.raises(VaultLocked):
        vault.open_with_key(key)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, SIZE - 1), flip=st.integers(1, 255))
def test_any_changed_byte_locks_the_vault_to_its_passphrase(
    tmp_path: Path, position: int, flip: int
) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {"a": 1})
    raw = bytearray(vault.path.read_bytes())
    raw[position] ^= flip
    vault.path.write_bytes(bytes(raw))
    with pytest.raises(VaultLocked):
        vault.open(PASSPHRASE)
    if position < SALT_LEN:
        # The salt only feeds the key derivation: a key already derived does not read it.
        assert vault.open_with_key(key) == {"a": 1}
    else:
        with pytest.raises(VaultLocked):
            vault.open_with_key(key)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=2 * SIZE))
def test_arbitrary_bytes_raise_vault_locked_and_nothing_else(tmp_path: Path, raw: bytes) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {"a": 1})
    vault.path.write_bytes(raw)
    with pytest.raises(VaultLocked):
        vault.open(PASSPHRASE)
    with pytest.raises(VaultLocked):
        vault.open_with_key(key)


# --- authentic files with a damaged inside ------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"text"', b"3", b"null", b"true"],
    ids=["list", "string", "number", "null", "bool"],
)
def test_a_vault_whose_json_is_not_an_object_is_locked(tmp_path: Path, body: bytes) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    vault.path.write_bytes(_sealed(vault, key, _padded(len(body), body)))
    with pytest.raises(VaultLocked, match="no object"):
        vault.open(PASSPHRASE)


@pytest.mark.parametrize(
    ("length_field", "body"),
    [
        (ROOM + 1, b"{}"),  # one past the end of the plaintext
        (2**32 - 1, b"{}"),
        (3, b"{}"),  # takes a padding byte into the JSON
        (2, b"\xff\xfe"),  # not UTF-8
        (5, b"{'a'}"),  # not JSON
        (0, b""),  # nothing at all
    ],
    ids=["length-past-end", "length-max", "length-into-padding", "not-utf8", "not-json", "empty"],
)
def test_an_authentic_vault_with_a_bad_length_or_body_is_locked(
    tmp_path: Path, length_field: int, body: bytes
) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    vault.path.write_bytes(_sealed(vault, key, _padded(length_field, body)))
    with pytest.raises(VaultLocked):
        vault.open(PASSPHRASE)
    with pytest.raises(VaultLocked):
        vault.open_with_key(key)


def test_json_nested_past_the_recursion_limit_is_locked(tmp_path: Path) -> None:
    vault = _vault(tmp_path, 256 * 1024)
    key = vault.create(PASSPHRASE, {})
    room = vault.size - HEADER_LEN - MAC_LEN - LENGTH_LEN
    body = b"[" * 100_000 + b"]" * 100_000
    plain = struct.pack(">I", len(body)) + body + bytes(room - len(body))
    vault.path.write_bytes(_sealed(vault, key, plain))
    with pytest.raises(VaultLocked):
        vault.open_with_key(key)


@pytest.mark.parametrize("plain_len", [0, 1, LENGTH_LEN - 1])
def test_an_authentic_plaintext_shorter_than_its_length_field_is_locked(
    tmp_path: Path, plain_len: int
) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    with pytest.raises(VaultLocked, match="no length"):
        vault.open_with_key(key, _sealed(vault, key, bytes(plain_len)))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length_field=st.integers(0, 2**32 - 1), body=st.binary(max_size=ROOM))
def test_any_authentic_plaintext_opens_to_an_object_or_raises_vault_locked(
    tmp_path: Path, length_field: int, body: bytes
) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    raw = _sealed(vault, key, struct.pack(">I", length_field) + body + bytes(ROOM - len(body)))
    try:
        contents = vault.open_with_key(key, raw)
    except VaultLocked:
        return
    assert isinstance(contents, dict)


# --- the file on disk ---------------------------------------------------------------------


def test_the_vault_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    key = vault.create(PASSPHRASE, {})
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    vault.path.chmod(0o644)
    vault.save(key, {"a": 1})
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
