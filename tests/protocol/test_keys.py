"""Tests for quietline.protocol.keys: X25519 and Ed25519 key types and the human digest.

CoverDrop's vectors pin key derivation and Ed25519 signatures; the rest checks that
sizes are enforced, that secrets never show in a repr, and the digest's format.
"""

import base64
import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.errors import BadSignature, MalformedInput
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    PublicEncryptionKey,
    PublicSigningKey,
    ReplyKey,
    SigningKeyPair,
    human_digest,
)
from tests.protocol.crypto_vectors import GENERATIONS, flip, vector_files

# (primitive, secret file, public file) for every X25519 pair in the vectors.
X25519_PAIRS = (
    ("anonymous_box", "02_recipient_sk", "01_recipient_pk"),
    ("two_party_box", "02_sender_sk", "01_sender_pk"),
    ("two_party_box", "04_recipient_sk", "03_recipient_pk"),
    ("multi_anonymous_box", "02_recipient_1_sk", "01_recipient_1_pk"),
    ("multi_anonymous_box", "04_recipient_2_sk", "03_recipient_2_pk"),
)
SEED = bytes(range(1, 33))
SECRET = bytes(range(101, 133))
keys32 = st.binary(min_size=32, max_size=32)


# --- CoverDrop vectors --------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize(("primitive", "secret", "public"), X25519_PAIRS)
def test_x25519_public_key_derives_from_secret(
    coverdrop_vectors: Path, generation: str, primitive: str, secret: str, public: str
) -> None:
    v = vector_files(coverdrop_vectors, generation, primitive)
    assert EncryptionKeyPair.from_secret(v[secret]).public.raw == v[public]


@pytest.mark.vectors
@pytest.mark.parametrize("generation", GENERATIONS)
class TestSignatureVectors:
    def test_seed_derives_public_key(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        assert SigningKeyPair.from_seed(v["02_sk"]).public.raw == v["01_pk"]

    def test_signature_verifies(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        PublicSigningKey(v["01_pk"]).verify(v["03_message"], v["04_signature"])

    def test_signing_reproduces_the_signature(
        self, coverdrop_vectors: Path, generation: str
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        assert SigningKeyPair.from_seed(v["02_sk"]).sign(v["03_message"]) == v["04_signature"]

    @pytest.mark.parametrize("index", [0, 31, 32, 63])
    def test_flipped_signature_byte_fails(
        self, coverdrop_vectors: Path, generation: str, index: int
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        with pytest.raises(BadSignature):
            PublicSigningKey(v["01_pk"]).verify(v["03_message"], flip(v["04_signature"], index))

    @pytest.mark.parametrize("index", [0, 500, -1])
    def test_flipped_message_byte_fails(
        self, coverdrop_vectors: Path, generation: str, index: int
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        with pytest.raises(BadSignature):
            PublicSigningKey(v["01_pk"]).verify(flip(v["03_message"], index), v["04_signature"])

    def test_wrong_key_fails(self, coverdrop_vectors: Path, generation: str) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        other = SigningKeyPair.from_seed(SEED).public
        with pytest.raises(BadSignature):
            other.verify(v["03_message"], v["04_signature"])

    @pytest.mark.parametrize("keep", [0, 63])
    def test_truncated_signature_fails(
        self, coverdrop_vectors: Path, generation: str, keep: int
    ) -> None:
        v = vector_files(coverdrop_vectors, generation, "signature")
        with pytest.raises(BadSignature):
            PublicSigningKey(v["01_pk"]).verify(v["03_message"], v["04_signature"][:keep])


# --- signing and verifying ----------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(keys32, st.binary(max_size=1000))
def test_sign_then_verify(seed: bytes, message: bytes) -> None:
    pair = SigningKeyPair.from_seed(seed)
    signature = pair.sign(message)
    assert len(signature) == 64
    assert pair.sign(message) == signature
    pair.public.verify(message, signature)
    with pytest.raises(BadSignature):
        pair.public.verify(message + b"\x00", signature)


@pytest.mark.parametrize("signature", [b"", bytes(63), bytes(65), bytes(64), "00" * 64, None])
def test_verify_rejects_malformed_signatures(signature: object) -> None:
    public = SigningKeyPair.from_seed(SEED).public
    with pytest.raises(BadSignature):
        public.verify(b"message", signature)  # type: ignore[arg-type]


def test_generated_pairs_are_distinct_and_consistent() -> None:
    first, second = EncryptionKeyPair.generate(), EncryptionKeyPair.generate()
    assert first.public != second.public
    assert EncryptionKeyPair.from_secret(first.secret) == first
    signer = SigningKeyPair.generate()
    assert SigningKeyPair.from_seed(signer.seed) == signer
    signer.public.verify(b"hello", signer.sign(b"hello"))


# --- sizes --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33), bytearray(32), "a" * 32])
def test_key_types_demand_exactly_32_bytes(raw: object) -> None:
    with pytest.raises(MalformedInput):
        PublicEncryptionKey(raw)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        PublicSigningKey(raw)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        EncryptionKeyPair.from_secret(raw)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        SigningKeyPair.from_seed(raw)  # type: ignore[arg-type]


def test_public_key_hex_is_the_raw_key() -> None:
    pair = EncryptionKeyPair.from_secret(SECRET)
    assert pair.public.hex() == pair.public.raw.hex()
    signer = SigningKeyPair.from_seed(SEED)
    assert signer.public.hex() == signer.public.raw.hex()


# --- encryption keys typed by role --------------------------------------------------------

ROLE_TYPES = (CoverNodeMessagingKey, JournalistMessagingKey, ReplyKey)


@pytest.mark.parametrize("role_type", ROLE_TYPES)
def test_a_role_key_is_the_public_half_of_its_pair_and_equals_the_untyped_key(
    role_type: type[PublicEncryptionKey],
) -> None:
    pair = EncryptionKeyPair.from_secret(SECRET)

    typed = role_type.of(pair)

    assert type(typed) is role_type
    assert typed.raw == pair.public.raw
    assert typed == pair.public
    assert pair.public == typed
    assert hash(typed) == hash(pair.public)
    assert {typed, pair.public} == {pair.public}
    assert repr(typed) == f"{role_type.__name__}({pair.public.raw[:4].hex()}…)"


@pytest.mark.parametrize("role_type", ROLE_TYPES)
@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33)])
def test_a_role_key_demands_exactly_32_bytes(
    role_type: type[PublicEncryptionKey], raw: bytes
) -> None:
    with pytest.raises(MalformedInput):
        role_type(raw)


def test_keys_of_different_bytes_differ_whatever_their_role() -> None:
    one = EncryptionKeyPair.from_secret(SECRET)
    other = EncryptionKeyPair.from_secret(bytes(reversed(SECRET)))

    assert ReplyKey.of(one) != ReplyKey.of(other)
    assert CoverNodeMessagingKey.of(one) != JournalistMessagingKey.of(other)
    assert ReplyKey.of(one) != PublicSigningKey(one.public.raw)


# --- secrets stay out of reprs ------------------------------------------------------------


def test_encryption_key_pair_repr_hides_the_secret() -> None:
    pair = EncryptionKeyPair.from_secret(SECRET)
    for text in (repr(pair), str(pair), f"{pair!r} {pair}"):
        assert SECRET.hex() not in text
        assert SECRET[:4].hex() not in text
    assert pair.public.raw[:4].hex() in repr(pair)


def test_signing_key_pair_repr_hides_the_seed() -> None:
    pair = SigningKeyPair.from_seed(SEED)
    for text in (repr(pair), str(pair), f"{pair!r} {pair}"):
        assert SEED.hex() not in text
        assert SEED[:4].hex() not in text
    assert pair.public.raw[:4].hex() in repr(pair)


def test_public_key_reprs_show_a_short_prefix_only() -> None:
    public = EncryptionKeyPair.from_secret(SECRET).public
    assert repr(public) == f"PublicEncryptionKey({public.raw[:4].hex()}…)"
    signing = SigningKeyPair.from_seed(SEED).public
    assert repr(signing) == f"PublicSigningKey({signing.raw[:4].hex()}…)"


# --- human digest -------------------------------------------------------------------------

DIGEST_FORMAT = re.compile(r"[A-Za-z0-9+/]{6} [A-Za-z0-9+/]{6} [A-Za-z0-9+/]{6} [A-Za-z0-9+/]{4}")


@given(keys32)
def test_human_digest_is_grouped_unpadded_base64_of_sha512_prefix(raw: bytes) -> None:
    for key in (PublicEncryptionKey(raw), PublicSigningKey(raw)):
        digest = human_digest(key)
        assert DIGEST_FORMAT.fullmatch(digest)
        compact = digest.replace(" ", "")
        assert len(compact) == 22
        assert base64.b64decode(compact + "==") == hashlib.sha512(raw).digest()[:16]


def test_human_digest_known_answer() -> None:
    public = EncryptionKeyPair.from_secret(bytes(range(32))).public
    assert human_digest(public) == "JWpVFZ CDjw43 CmNO4o ZRSw"
