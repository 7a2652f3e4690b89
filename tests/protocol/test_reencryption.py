"""Universal re-encryption over edwards25519: what a block keeps through re-randomisation
(its plaintext, its key) and what it loses (every byte an examiner could compare)."""

import collections
import contextlib
import math

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol import reencryption
from quietline.protocol.errors import MalformedInput

data = st.binary(min_size=reencryption.BLOCK_DATA, max_size=reencryption.BLOCK_DATA)
SECRET = reencryption.random_scalar()
PUBLIC = reencryption.public_key(SECRET)


def _points(block: bytes) -> set[bytes]:
    return {block[i : i + 32] for i in range(0, reencryption.BLOCK_LEN, 32)}


@settings(max_examples=40, deadline=None)
@given(data)
def test_a_block_carries_any_29_bytes_through_any_number_of_rerandomisations(
    carried: bytes,
) -> None:
    block = reencryption.encrypt(PUBLIC, carried)
    assert len(block) == reencryption.BLOCK_LEN
    for _ in range(3):
        again = reencryption.rerandomise(block)
        # Not one point survives: nothing in the new bytes links them to the old ones.
        assert not _points(again) & _points(block)
        block = again
    assert reencryption.decrypt(SECRET, block) == carried
    assert reencryption.is_under(SECRET, block)


def test_another_key_does_not_open_a_block() -> None:
    block = reencryption.rerandomise(reencryption.encrypt(PUBLIC, bytes(29)))
    other = reencryption.random_scalar()
    assert not reencryption.is_under(other, block)
    with pytest.raises(MalformedInput, match="not under this key"):
        reencryption.decrypt(other, block)


def test_a_point_with_a_small_order_part_is_refused() -> None:
    # Such a point would keep its small-order part through every re-randomisation: a
    # mark an attacker who once wrote the file could find again.
    block = reencryption.encrypt(PUBLIC, bytes(29))
    # The point of order 2 on edwards25519 (x = 0, y = -1).
    order_two = (2**255 - 20).to_bytes(32, "little")
    marked = sodium.crypto_core_ed25519_add(block[:32], order_two)
    assert not sodium.crypto_core_ed25519_is_valid_point(marked)
    for damaged in (marked + block[32:], block[:96] + marked):
        with pytest.raises(MalformedInput):
            reencryption.rerandomise(damaged)
        with pytest.raises(MalformedInput):
            reencryption.decrypt(SECRET, damaged)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_block_or_refused(raw: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        reencryption.rerandomise(raw)
    with contextlib.suppress(MalformedInput):
        reencryption.decrypt(SECRET, raw)


def test_embedding_refuses_the_wrong_length_and_reads_back() -> None:
    with pytest.raises(ValueError, match="exactly 29"):
        reencryption.embed(bytes(28))
    point = reencryption.embed(b"\xff" * 29)
    assert sodium.crypto_core_ed25519_is_valid_point(point)
    assert reencryption.extract(point) == b"\xff" * 29


def test_block_bytes_look_uniform() -> None:
    """Byte frequencies over 400 re-randomised blocks of zeros (51,200 bytes): a
    chi-square test at 255 degrees of freedom, with a bound far in the tail (p < 1e-6
    for uniform bytes), so the test fails only on structure, not on chance."""
    block = reencryption.encrypt(PUBLIC, bytes(29))
    blocks = []
    for _ in range(400):
        block = reencryption.rerandomise(block)
        blocks.append(block)
    raw = b"".join(blocks)
    counts = collections.Counter(raw)
    expected = len(raw) / 256
    chi_square = sum((counts.get(b, 0) - expected) ** 2 / expected for b in range(256))
    # Wilson-Hilferty: the 1 - 1e-6 quantile of chi-square(255) is about 375.
    assert chi_square < 375, chi_square
    # Every bit position of a point is as often 1 as 0 (the top bit is x's sign).
    for position in (0, 7, 248, 254, 255):
        ones = sum(
            (int.from_bytes(b[i : i + 32], "little") >> position) & 1
            for b in blocks
            for i in range(0, 128, 32)
        )
        assert abs(ones - 800) < 5 * math.sqrt(400), (position, ones)
