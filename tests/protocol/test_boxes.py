"""Tests for quietline.protocol.boxes: the three box constructions and their typed wrappers.

CoverDrop's published vectors (three independent generations) pin byte compatibility;
Hypothesis checks seal/open round trips and sizes; tampered, truncated and misaddressed
ciphertexts must fail with DecryptionFailed and nothing else.
"""

from collections.abc import Callable
from pathlib import Path

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.boxes import (
    AnonymousBox,
    Codec,
    MultiAnonymousBox,
    RandomBytes,
    TwoPartyBox,
    anonymous_box_codec,
    multi_anonymous_box_codec,
    open_anonymous,
    open_multi_anonymous,
    open_two_party,
    open_two_party_with,
    require_length,
    seal_anonymous,
    seal_multi_anonymous,
    seal_two_party,
    shared_key,
    two_party_box_codec,
)
from quietline.protocol.constants import (
    ANONYMOUS_BOX_OVERHEAD,
    MULTI_ANONYMOUS_BOX_SLOT_LEN,
    NONCE_LEN,
    POLY1305_TAG_LEN,
    TWO_PARTY_BOX_OVERHEAD,
)
from quietline.protocol.errors import DecryptionFailed, MalformedInput, MisuseError
from quietline.protocol.keys import EncryptionKeyPair, PublicEncryptionKey
from tests.protocol.crypto_vectors import GENERATIONS, flip, vector_files

CRYPTO_SETTINGS = settings(max_examples=30, deadline=None)

ALICE = EncryptionKeyPair.from_secret(bytes(range(32)))
BOB = EncryptionKeyPair.from_secret(bytes(range(32, 64)))
CAROL = EncryptionKeyPair.from_secret(bytes(range(64, 96)))


def fixed_random(value: bytes) -> RandomBytes:
    """A random_bytes stand-in that hands out ``value`` and checks the length asked for."""

    def random_bytes(n: int) -> bytes:
        assert n == len(value)
        return value

    return random_bytes


def zeros(n: int) -> bytes:
    return bytes(n)


# A 16-byte plaintext type whose decoder refuses anything not starting with 0x00.
def decode_blob(raw: bytes) -> bytes:
    require_length(raw, 16, "a blob")
    if raw[0] != 0:
        raise MalformedInput("a blob starts with 0x00")
    return raw


def encode_blob(value: bytes) -> bytes:
    return value


BLOB: Codec[bytes] = Codec("Blob", 16, encode_blob, decode_blob)
BLOB_VALUE = b"\x00" + b"quietline-blob!"
blobs = st.binary(min_size=15, max_size=15).map(lambda tail: b"\x00" + tail)


# --- CoverDrop vectors --------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("generation", GENERATIONS)
class TestAnonymousBoxVectors:
    def test_opens_to_the_message(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "anonymous_box")
        pair = EncryptionKeyPair.from_secret(v["02_recipient_sk"])
        assert pair.public.raw == v["01_recipient_pk"]
        assert open_anonymous(pair, v["04_anonymous_box"]) == v["03_message"]
        assert len(v["04_anonymous_box"]) == len(v["03_message"]) + ANONYMOUS_BOX_OVERHEAD

    @pytest.mark.parametrize("index", [0, 31, 32, 47, 48, 500, -1])
    def test_any_flipped_byte_fails(
        self, coverdrop_vectors: Path, generation: str, index: int
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "anonymous_box")
        pair = EncryptionKeyPair.from_secret(v["02_recipient_sk"])
        with pytest.raises(DecryptionFailed):
            open_anonymous(pair, flip(v["04_anonymous_box"], index))

    def test_wrong_key_fails(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "anonymous_box")
        with pytest.raises(DecryptionFailed):
            open_anonymous(ALICE, v["04_anonymous_box"])

    @pytest.mark.parametrize("keep", [0, 1, ANONYMOUS_BOX_OVERHEAD - 1, -1])
    def test_truncated_fails(self, coverdrop_vectors: Path, generation: str, keep: int) -> None:
        v = vector_files(coverdrop_vectors, generation, "anonymous_box")
        pair = EncryptionKeyPair.from_secret(v["02_recipient_sk"])
        with pytest.raises(DecryptionFailed):
            open_anonymous(pair, v["04_anonymous_box"][:keep])


@pytest.mark.vectors
@pytest.mark.parametrize("generation", GENERATIONS)
class TestTwoPartyBoxVectors:
    def test_opens_to_the_message(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        recipient = EncryptionKeyPair.from_secret(v["04_recipient_sk"])
        sender = PublicEncryptionKey(v["01_sender_pk"])
        assert open_two_party(recipient, sender, v["06_two_party_box"]) == v["05_message"]
        assert len(v["06_two_party_box"]) == len(v["05_message"]) + TWO_PARTY_BOX_OVERHEAD

    def test_opens_with_a_precomputed_shared_key(
        self, coverdrop_vectors: Path, generation: str
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        recipient = EncryptionKeyPair.from_secret(v["04_recipient_sk"])
        shared = shared_key(recipient, PublicEncryptionKey(v["01_sender_pk"]))
        assert open_two_party_with(shared, v["06_two_party_box"]) == v["05_message"]

    def test_sealing_with_the_vector_nonce_reproduces_it_exactly(
        self, coverdrop_vectors: Path, generation: str
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        sender = EncryptionKeyPair.from_secret(v["02_sender_sk"])
        assert sender.public.raw == v["01_sender_pk"]
        nonce = v["06_two_party_box"][-NONCE_LEN:]
        sealed = seal_two_party(
            sender, PublicEncryptionKey(v["03_recipient_pk"]), v["05_message"], fixed_random(nonce)
        )
        assert sealed == v["06_two_party_box"]

    @pytest.mark.parametrize("index", [0, 15, 16, 500, -NONCE_LEN, -1])
    def test_any_flipped_byte_fails(
        self, coverdrop_vectors: Path, generation: str, index: int
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        recipient = EncryptionKeyPair.from_secret(v["04_recipient_sk"])
        sender = PublicEncryptionKey(v["01_sender_pk"])
        with pytest.raises(DecryptionFailed):
            open_two_party(recipient, sender, flip(v["06_two_party_box"], index))

    def test_wrong_recipient_key_fails(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        with pytest.raises(DecryptionFailed):
            open_two_party(ALICE, PublicEncryptionKey(v["01_sender_pk"]), v["06_two_party_box"])

    def test_wrong_sender_key_fails(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        recipient = EncryptionKeyPair.from_secret(v["04_recipient_sk"])
        with pytest.raises(DecryptionFailed):
            open_two_party(recipient, ALICE.public, v["06_two_party_box"])

    @pytest.mark.parametrize("keep", [0, TWO_PARTY_BOX_OVERHEAD - 1, -1])
    def test_truncated_fails(self, coverdrop_vectors: Path, generation: str, keep: int) -> None:
        v = vector_files(coverdrop_vectors, generation, "two_party_box")
        recipient = EncryptionKeyPair.from_secret(v["04_recipient_sk"])
        sender = PublicEncryptionKey(v["01_sender_pk"])
        with pytest.raises(DecryptionFailed):
            open_two_party(recipient, sender, v["06_two_party_box"][:keep])


@pytest.mark.vectors
@pytest.mark.parametrize("generation", GENERATIONS)
class TestMultiAnonymousBoxVectors:
    def recipients(
        self, root: Path, generation: str
    ) -> tuple[dict[str, bytes], EncryptionKeyPair, EncryptionKeyPair]:
        v = vector_files(root, generation, "multi_anonymous_box")
        first = EncryptionKeyPair.from_secret(v["02_recipient_1_sk"])
        second = EncryptionKeyPair.from_secret(v["04_recipient_2_sk"])
        assert first.public.raw == v["01_recipient_1_pk"]
        assert second.public.raw == v["03_recipient_2_pk"]
        return v, first, second

    def test_each_recipient_opens_it(self, coverdrop_vectors: Path, generation: str) -> None:
        v, first, second = self.recipients(coverdrop_vectors, generation)
        box = v["06_multi_anonymous_box"]
        assert open_multi_anonymous(first, 2, box) == v["05_message"]
        assert open_multi_anonymous(second, 2, box) == v["05_message"]
        assert len(box) == len(v["05_message"]) + 2 * MULTI_ANONYMOUS_BOX_SLOT_LEN + 16

    def test_recipient_one_holds_slot_zero_and_two_slot_one(
        self, coverdrop_vectors: Path, generation: str
    ) -> None:
        v, first, second = self.recipients(coverdrop_vectors, generation)
        box = v["06_multi_anonymous_box"]
        slot_len = MULTI_ANONYMOUS_BOX_SLOT_LEN
        assert len(open_anonymous(first, box[:slot_len])) == 32
        assert len(open_anonymous(second, box[slot_len : 2 * slot_len])) == 32

    def test_flipped_slot_zero_fails_for_recipient_one_only(
        self, coverdrop_vectors: Path, generation: str
    ) -> None:
        v, first, second = self.recipients(coverdrop_vectors, generation)
        box = flip(v["06_multi_anonymous_box"], 10)
        with pytest.raises(DecryptionFailed):
            open_multi_anonymous(first, 2, box)
        assert open_multi_anonymous(second, 2, box) == v["05_message"]

    def test_flipped_slot_one_fails_for_recipient_two_only(
        self, coverdrop_vectors: Path, generation: str
    ) -> None:
        v, first, second = self.recipients(coverdrop_vectors, generation)
        box = flip(v["06_multi_anonymous_box"], MULTI_ANONYMOUS_BOX_SLOT_LEN + 10)
        with pytest.raises(DecryptionFailed):
            open_multi_anonymous(second, 2, box)
        assert open_multi_anonymous(first, 2, box) == v["05_message"]

    @pytest.mark.parametrize("index", [2 * MULTI_ANONYMOUS_BOX_SLOT_LEN, 400, -1])
    def test_flipped_body_byte_fails_for_both(
        self, coverdrop_vectors: Path, generation: str, index: int
    ) -> None:
        v, first, second = self.recipients(coverdrop_vectors, generation)
        box = flip(v["06_multi_anonymous_box"], index)
        for recipient in (first, second):
            with pytest.raises(DecryptionFailed):
                open_multi_anonymous(recipient, 2, box)

    def test_wrong_key_fails(self, coverdrop_vectors: Path, generation: str) -> None:
        v, _, _ = self.recipients(coverdrop_vectors, generation)
        with pytest.raises(DecryptionFailed):
            open_multi_anonymous(ALICE, 2, v["06_multi_anonymous_box"])

    @pytest.mark.parametrize("keep", [0, 2 * MULTI_ANONYMOUS_BOX_SLOT_LEN + 15, -1])
    def test_truncated_fails(self, coverdrop_vectors: Path, generation: str, keep: int) -> None:
        v, first, _ = self.recipients(coverdrop_vectors, generation)
        with pytest.raises(DecryptionFailed):
            open_multi_anonymous(first, 2, v["06_multi_anonymous_box"][:keep])


# --- raw primitives: round trips, sizes, layout -------------------------------------------


@CRYPTO_SETTINGS
@given(st.binary(max_size=2000))
def test_anonymous_box_round_trip(plaintext: bytes) -> None:
    sealed = seal_anonymous(BOB.public, plaintext)
    assert len(sealed) == len(plaintext) + ANONYMOUS_BOX_OVERHEAD
    assert open_anonymous(BOB, sealed) == plaintext
    with pytest.raises(DecryptionFailed):
        open_anonymous(CAROL, sealed)


@CRYPTO_SETTINGS
@given(st.binary(max_size=2000), st.binary(min_size=NONCE_LEN, max_size=NONCE_LEN))
def test_two_party_box_round_trip(plaintext: bytes, nonce: bytes) -> None:
    sealed = seal_two_party(ALICE, BOB.public, plaintext, fixed_random(nonce))
    assert len(sealed) == len(plaintext) + TWO_PARTY_BOX_OVERHEAD
    assert sealed.endswith(nonce)
    assert open_two_party(BOB, ALICE.public, sealed) == plaintext
    with pytest.raises(DecryptionFailed):
        open_two_party(CAROL, ALICE.public, sealed)


@CRYPTO_SETTINGS
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=3))
def test_multi_anonymous_box_round_trip(plaintext: bytes, count: int) -> None:
    recipients = [ALICE, BOB, CAROL][:count]
    sealed = seal_multi_anonymous([pair.public for pair in recipients], plaintext)
    assert len(sealed) == len(plaintext) + count * MULTI_ANONYMOUS_BOX_SLOT_LEN + 16
    for pair in recipients:
        assert open_multi_anonymous(pair, count, sealed) == plaintext


def test_two_party_box_with_fixed_nonce_gives_exact_bytes() -> None:
    sealed = seal_two_party(ALICE, BOB.public, b"Quietline", zeros)
    assert sealed.hex() == "0954394d87ff01ec6da51a7f5ea89c0cee16f663039bd9b615" + "00" * NONCE_LEN
    assert seal_two_party(ALICE, BOB.public, b"Quietline", zeros) == sealed


def test_two_party_box_layout_is_mac_then_ciphertext_then_nonce() -> None:
    nonce = bytes(range(NONCE_LEN))
    sealed = seal_two_party(ALICE, BOB.public, b"layout", fixed_random(nonce))
    assert sealed == sodium.crypto_box(b"layout", nonce, BOB.public.raw, ALICE.secret) + nonce


def test_multi_anonymous_box_layout_is_key_slots_then_zero_nonce_secretbox() -> None:
    key = bytes(range(100, 132))
    sealed = seal_multi_anonymous([ALICE.public, BOB.public], b"layout", fixed_random(key))
    slot_len = MULTI_ANONYMOUS_BOX_SLOT_LEN
    assert open_anonymous(ALICE, sealed[:slot_len]) == key
    assert open_anonymous(BOB, sealed[slot_len : 2 * slot_len]) == key
    assert sealed[2 * slot_len :] == sodium.crypto_secretbox(b"layout", bytes(NONCE_LEN), key)


def test_the_same_key_twice_opens() -> None:
    sealed = seal_multi_anonymous([ALICE.public, ALICE.public], b"one node")
    assert open_multi_anonymous(ALICE, 2, sealed) == b"one node"


def test_multi_anonymous_box_needs_a_recipient() -> None:
    with pytest.raises(MisuseError):
        seal_multi_anonymous([], b"nobody")


def test_low_order_public_key_fails_cleanly() -> None:
    with pytest.raises(DecryptionFailed):
        shared_key(ALICE, PublicEncryptionKey(bytes(32)))
    with pytest.raises(DecryptionFailed):
        open_two_party(ALICE, PublicEncryptionKey(bytes(32)), bytes(100))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=3))
def test_openers_on_garbage_raise_only_decryption_failed(garbage: bytes, slots: int) -> None:
    openers: list[Callable[[], bytes]] = [
        lambda: open_anonymous(ALICE, garbage),
        lambda: open_two_party(ALICE, BOB.public, garbage),
        lambda: open_multi_anonymous(ALICE, slots, garbage),
    ]
    for opener in openers:
        with pytest.raises(DecryptionFailed):
            opener()


# --- typed boxes and codecs ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", bytes(15), bytes(17), bytearray(16), "x" * 16])
def test_require_length_rejects_anything_but_exact_bytes(raw: object) -> None:
    with pytest.raises(MalformedInput, match="a blob must be exactly 16 bytes"):
        require_length(raw, 16, "a blob")  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        BLOB.check_size(raw)  # type: ignore[arg-type]


def test_require_length_returns_exact_bytes() -> None:
    assert require_length(BLOB_VALUE, 16, "a blob") is BLOB_VALUE
    assert BLOB.check_size(BLOB_VALUE) is BLOB_VALUE


@CRYPTO_SETTINGS
@given(blobs)
def test_typed_anonymous_box_round_trip(value: bytes) -> None:
    box = AnonymousBox.seal(BLOB, BOB.public, value)
    assert len(box.data) == 16 + ANONYMOUS_BOX_OVERHEAD
    assert box.open(BOB) == value
    codec = anonymous_box_codec(BLOB)
    assert codec.size == len(box.data)
    assert codec.decode(codec.encode(box)).open(BOB) == value


@CRYPTO_SETTINGS
@given(blobs)
def test_typed_two_party_box_round_trip(value: bytes) -> None:
    box = TwoPartyBox.seal(BLOB, ALICE, BOB.public, value)
    assert len(box.data) == 16 + TWO_PARTY_BOX_OVERHEAD
    assert box.open(BOB, ALICE.public) == value
    assert box.open_with(shared_key(BOB, ALICE.public)) == value
    codec = two_party_box_codec(BLOB)
    assert codec.size == len(box.data)
    assert codec.decode(codec.encode(box)).open(BOB, ALICE.public) == value


@CRYPTO_SETTINGS
@given(blobs)
def test_typed_multi_anonymous_box_round_trip(value: bytes) -> None:
    box = MultiAnonymousBox.seal(BLOB, [ALICE.public, BOB.public], value)
    assert box.slots == 2
    assert len(box.data) == 16 + 2 * MULTI_ANONYMOUS_BOX_SLOT_LEN + POLY1305_TAG_LEN
    assert box.open(ALICE) == value
    assert box.open(BOB) == value
    codec = multi_anonymous_box_codec(BLOB, 2)
    assert codec.size == len(box.data)
    assert codec.decode(codec.encode(box)).open(BOB) == value


def test_typed_two_party_box_is_reproducible_with_fixed_randomness() -> None:
    first = TwoPartyBox.seal(BLOB, ALICE, BOB.public, BLOB_VALUE, zeros)
    second = TwoPartyBox.seal(BLOB, ALICE, BOB.public, BLOB_VALUE, zeros)
    assert first.data == second.data
    assert first.data == seal_two_party(ALICE, BOB.public, BLOB_VALUE, zeros)


def test_typed_boxes_fail_to_open_with_the_wrong_key() -> None:
    with pytest.raises(DecryptionFailed):
        AnonymousBox.seal(BLOB, BOB.public, BLOB_VALUE).open(CAROL)
    with pytest.raises(DecryptionFailed):
        TwoPartyBox.seal(BLOB, ALICE, BOB.public, BLOB_VALUE).open(CAROL, ALICE.public)
    with pytest.raises(DecryptionFailed):
        MultiAnonymousBox.seal(BLOB, [ALICE.public, BOB.public], BLOB_VALUE).open(CAROL)


def test_typed_boxes_pass_on_the_plaintext_decoder_error() -> None:
    bad = b"\x01" + bytes(15)
    with pytest.raises(MalformedInput, match="starts with 0x00"):
        AnonymousBox(BLOB, seal_anonymous(BOB.public, bad)).open(BOB)
    with pytest.raises(MalformedInput, match="starts with 0x00"):
        TwoPartyBox(BLOB, seal_two_party(ALICE, BOB.public, bad)).open(BOB, ALICE.public)
    with pytest.raises(MalformedInput, match="starts with 0x00"):
        MultiAnonymousBox(BLOB, 1, seal_multi_anonymous([BOB.public], bad)).open(BOB)


@pytest.mark.parametrize("delta", [-1, 1])
def test_typed_boxes_check_their_size_on_construction(delta: int) -> None:
    with pytest.raises(MalformedInput):
        AnonymousBox(BLOB, bytes(16 + ANONYMOUS_BOX_OVERHEAD + delta))
    with pytest.raises(MalformedInput):
        TwoPartyBox(BLOB, bytes(16 + TWO_PARTY_BOX_OVERHEAD + delta))
    with pytest.raises(MalformedInput):
        MultiAnonymousBox(BLOB, 2, bytes(16 + 2 * MULTI_ANONYMOUS_BOX_SLOT_LEN + 16 + delta))
    for codec in (
        anonymous_box_codec(BLOB),
        two_party_box_codec(BLOB),
        multi_anonymous_box_codec(BLOB, 2),
    ):
        with pytest.raises(MalformedInput):
            codec.decode(bytes(codec.size + delta))


def test_box_reprs_name_the_type_and_size_only() -> None:
    box = AnonymousBox.seal(BLOB, BOB.public, BLOB_VALUE)
    assert repr(box) == "AnonymousBox[Blob](64 bytes)"
    two_party = TwoPartyBox.seal(BLOB, ALICE, BOB.public, BLOB_VALUE)
    assert repr(two_party) == "TwoPartyBox[Blob](56 bytes)"
    multi = MultiAnonymousBox.seal(BLOB, [ALICE.public, BOB.public], BLOB_VALUE)
    assert repr(multi) == "MultiAnonymousBox[Blobx2](192 bytes)"
