"""The source's vault: sealed under a passphrase, re-randomised by anyone, one answer for
every vault a passphrase does not open."""

import contextlib
import struct

import nacl.pwhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.client import vault
from quietline.vault import INTERACTIVE, MODERATE

BLOCKS = 8
PASSPHRASE = "abacus abdomen abdominal abide abiding"


@pytest.fixture(scope="module")
def installed() -> bytes:
    return vault.install(BLOCKS, INTERACTIVE)


@pytest.fixture(scope="module")
def key(installed: bytes) -> vault.VaultKey:
    return vault.VaultKey.derive(PASSPHRASE, installed)


def test_the_header_records_the_salt_and_cost_and_the_size_is_fixed(installed: bytes) -> None:
    assert len(installed) == vault.size(BLOCKS) == 24 + BLOCKS * 128
    salt, cost = vault.header(installed)
    assert len(salt) == 16
    assert cost == INTERACTIVE
    assert vault.header(vault.install(2))[1] == MODERATE
    assert vault.block_count(installed) == BLOCKS
    assert vault.capacity(BLOCKS) == BLOCKS * 29 - 44


def test_a_sealed_vault_opens_with_its_passphrase_after_any_rerandomisation(
    installed: bytes, key: vault.VaultKey
) -> None:
    sealed = vault.seal(key, installed, b"the contents")
    assert len(sealed) == len(installed)
    assert sealed[:24] == installed[:24]
    again = vault.rerandomise(vault.rerandomise(sealed))
    assert again[24:] != sealed[24:]
    assert vault.open_vault(key, again) == b"the contents"
    # Full to the last byte, and no further.
    full = b"x" * vault.capacity(BLOCKS)
    assert vault.open_vault(key, vault.seal(key, installed, full)) == full
    with pytest.raises(ValueError, match="at most"):
        vault.seal(key, installed, full + b"x")


def test_an_unused_vault_a_wrong_passphrase_and_a_damaged_vault_answer_alike(
    installed: bytes, key: vault.VaultKey
) -> None:
    sealed = vault.seal(key, installed, b"the contents")
    other = vault.VaultKey.derive("zoom zoning zookeeper zoologist zoology", installed)
    flipped = bytearray(sealed)
    flipped[24 + 128 + 5] ^= 1  # a bit of the second block
    swapped = sealed[:24] + sealed[24 + 128 : 24 + 256] + sealed[24:152] + sealed[24 + 256 :]
    cases = [(key, installed), (other, sealed), (key, bytes(flipped)), (key, swapped)]
    answers = set()
    for opener, raw in cases:
        with pytest.raises(vault.VaultLocked) as refused:
            vault.open_vault(opener, raw)
        answers.add(str(refused.value))
    assert answers == {"the passphrase does not open this vault"}


def test_an_impossible_header_is_damage_not_a_long_unlock(installed: bytes) -> None:
    for opslimit, memlimit in ((0, 2**26), (10**6, 2**26), (3, 1), (3, 2**32 - 1)):
        header = installed[:16] + struct.pack(">II", opslimit, memlimit)
        bad = header + installed[24:]
        expected_ok = (
            nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= vault.MAX_OPSLIMIT
            and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= vault.MAX_MEMLIMIT
        )
        if expected_ok:
            assert vault.header(bad)[1].opslimit == opslimit
        else:
            with pytest.raises(vault.VaultDamaged):
                vault.header(bad)
    for wrong in (b"", installed[:23], installed + b"x", installed[:-1]):
        with pytest.raises(vault.VaultDamaged):
            vault.block_count(wrong)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_refused_cleanly(raw: bytes) -> None:
    opener = vault.VaultKey.random()
    with contextlib.suppress(vault.VaultDamaged):
        vault.rerandomise(raw)
    with pytest.raises(vault.VaultLocked):
        vault.open_vault(opener, raw)
