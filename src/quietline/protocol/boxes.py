"""Authenticated encryption, typed by what it holds.

Three constructions, byte-compatible with CoverDrop:

* anonymous box: libsodium sealed box, ``epk 32 ‖ MAC 16 ‖ ct``;
* two-party box: ``crypto_box`` with a random nonce appended, ``MAC 16 ‖ ct ‖ nonce 24``;
* multi-anonymous box: one 80-byte sealed box of a fresh 32-byte key per recipient,
  then ``crypto_secretbox`` of the message under that key with an all-zero nonce.

Each box remembers the :class:`Codec` of its plaintext, so an anonymous box of a
U2J message cannot be confused with any other byte string, and its size is
checked when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils

from quietline.protocol.constants import (
    ANONYMOUS_BOX_OVERHEAD,
    MULTI_ANONYMOUS_BOX_SLOT_LEN,
    NONCE_LEN,
    POLY1305_TAG_LEN,
    SECRETBOX_KEY_LEN,
    TWO_PARTY_BOX_OVERHEAD,
)
from quietline.protocol.errors import DecryptionFailed, MalformedInput, MisuseError
from quietline.protocol.keys import EncryptionKeyPair, PublicEncryptionKey

T = TypeVar("T")
RandomBytes = Callable[[int], bytes]
_ZERO_NONCE = bytes(NONCE_LEN)
_SODIUM_ERRORS = (
    nacl.exceptions.CryptoError,
    nacl.exceptions.ValueError,
    nacl.exceptions.TypeError,
)


@dataclass(frozen=True, slots=True)
class Codec(Generic[T]):
    """How a fixed-size plaintext type turns into bytes and back.

    ``decode`` raises :class:`ProtocolError` on bytes that are not a valid ``T``.
    """

    name: str
    size: int
    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]

    def check_size(self, raw: bytes) -> bytes:
        return require_length(raw, self.size, self.name)


def require_length(raw: bytes, size: int, name: str) -> bytes:
    """Return ``raw`` if it is ``bytes`` of exactly ``size``; else raise MalformedInput."""
    if not isinstance(raw, bytes) or len(raw) != size:
        got = len(raw) if isinstance(raw, bytes) else type(raw).__name__
        raise MalformedInput(f"{name} must be exactly {size} bytes, got {got}")
    return raw


# --- raw primitives over bytes ------------------------------------------------------------


def seal_anonymous(recipient: PublicEncryptionKey, plaintext: bytes) -> bytes:
    """Seal ``plaintext`` to ``recipient``; raises MalformedInput when the key is one
    nothing can be sealed to (a low-order point)."""
    try:
        return bytes(sodium.crypto_box_seal(plaintext, recipient.raw))
    except _SODIUM_ERRORS as error:
        raise _unusable(recipient) from error


def _unusable(recipient: PublicEncryptionKey) -> MalformedInput:
    return MalformedInput(f"cannot seal to {recipient!r}: it is not a usable X25519 key")


def open_anonymous(recipient: EncryptionKeyPair, ciphertext: bytes) -> bytes:
    """Open a sealed box; raises DecryptionFailed on any failure."""
    if len(ciphertext) < ANONYMOUS_BOX_OVERHEAD:
        raise DecryptionFailed("anonymous box too short")
    try:
        return bytes(
            sodium.crypto_box_seal_open(ciphertext, recipient.public.raw, recipient.secret)
        )
    except _SODIUM_ERRORS as error:
        raise DecryptionFailed("anonymous box does not open with this key") from error


def seal_two_party(
    sender: EncryptionKeyPair,
    recipient: PublicEncryptionKey,
    plaintext: bytes,
    random_bytes: RandomBytes = nacl.utils.random,
) -> bytes:
    """Box ``plaintext`` from ``sender`` to ``recipient``; raises MalformedInput when
    ``recipient`` is a key nothing can be sealed to (a low-order point)."""
    nonce = random_bytes(NONCE_LEN)
    try:
        return bytes(sodium.crypto_box(plaintext, nonce, recipient.raw, sender.secret)) + nonce
    except _SODIUM_ERRORS as error:
        raise _unusable(recipient) from error


def open_two_party(
    recipient: EncryptionKeyPair, sender: PublicEncryptionKey, ciphertext: bytes
) -> bytes:
    """Open a two-party box from ``sender``; raises DecryptionFailed on any failure."""
    return open_two_party_with(shared_key(recipient, sender), ciphertext)


def shared_key(mine: EncryptionKeyPair, theirs: PublicEncryptionKey) -> bytes:
    """The ``crypto_box_beforenm`` key, to open many boxes between one pair of keys."""
    try:
        return bytes(sodium.crypto_box_beforenm(theirs.raw, mine.secret))
    except _SODIUM_ERRORS as error:  # a low-order public key
        raise DecryptionFailed("no shared key with this public key") from error


def open_two_party_with(shared: bytes, ciphertext: bytes) -> bytes:
    """Open a two-party box with a precomputed :func:`shared_key`."""
    if len(ciphertext) < TWO_PARTY_BOX_OVERHEAD:
        raise DecryptionFailed("two-party box too short")
    body, nonce = ciphertext[:-NONCE_LEN], ciphertext[-NONCE_LEN:]
    try:
        return bytes(sodium.crypto_box_open_afternm(body, nonce, shared))
    except _SODIUM_ERRORS as error:
        raise DecryptionFailed("two-party box does not open with these keys") from error


def seal_multi_anonymous(
    recipients: Sequence[PublicEncryptionKey],
    plaintext: bytes,
    random_bytes: RandomBytes = nacl.utils.random,
) -> bytes:
    if not recipients:
        raise MisuseError("a multi-anonymous box needs at least one recipient")
    key = random_bytes(SECRETBOX_KEY_LEN)
    slots = b"".join(seal_anonymous(recipient, key) for recipient in recipients)
    return slots + bytes(sodium.crypto_secretbox(plaintext, _ZERO_NONCE, key))


def open_multi_anonymous(recipient: EncryptionKeyPair, slots: int, ciphertext: bytes) -> bytes:
    """Open a multi-anonymous box with ``slots`` key slots using whichever slot is ours.

    Raises DecryptionFailed when no slot opens or the body does not authenticate.
    """
    body_start = slots * MULTI_ANONYMOUS_BOX_SLOT_LEN
    if len(ciphertext) < body_start + POLY1305_TAG_LEN:
        raise DecryptionFailed("multi-anonymous box too short")
    for index in range(slots):
        slot = ciphertext[
            index * MULTI_ANONYMOUS_BOX_SLOT_LEN : (index + 1) * MULTI_ANONYMOUS_BOX_SLOT_LEN
        ]
        try:
            key = open_anonymous(recipient, slot)
        except DecryptionFailed:
            continue
        try:
            return bytes(sodium.crypto_secretbox_open(ciphertext[body_start:], _ZERO_NONCE, key))
        except _SODIUM_ERRORS as error:
            raise DecryptionFailed("multi-anonymous box body does not authenticate") from error
    raise DecryptionFailed("no slot of the multi-anonymous box opens with this key")


# --- typed boxes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnonymousBox(Generic[T]):
    """A sealed box holding one ``T``; only the recipient can open it."""

    codec: Codec[T]
    data: bytes

    def __post_init__(self) -> None:
        require_length(self.data, self.codec.size + ANONYMOUS_BOX_OVERHEAD, "an anonymous box")

    @classmethod
    def seal(cls, codec: Codec[T], recipient: PublicEncryptionKey, value: T) -> AnonymousBox[T]:
        return cls(codec, seal_anonymous(recipient, codec.encode(value)))

    def open(self, recipient: EncryptionKeyPair) -> T:
        """Decrypt and decode; raises DecryptionFailed or another ProtocolError."""
        return self.codec.decode(open_anonymous(recipient, self.data))

    def __repr__(self) -> str:
        return f"AnonymousBox[{self.codec.name}]({len(self.data)} bytes)"


@dataclass(frozen=True, slots=True)
class TwoPartyBox(Generic[T]):
    """A ``crypto_box`` holding one ``T`` between two known key pairs."""

    codec: Codec[T]
    data: bytes

    def __post_init__(self) -> None:
        require_length(self.data, self.codec.size + TWO_PARTY_BOX_OVERHEAD, "a two-party box")

    @classmethod
    def seal(
        cls,
        codec: Codec[T],
        sender: EncryptionKeyPair,
        recipient: PublicEncryptionKey,
        value: T,
        random_bytes: RandomBytes = nacl.utils.random,
    ) -> TwoPartyBox[T]:
        return cls(codec, seal_two_party(sender, recipient, codec.encode(value), random_bytes))

    def open(self, recipient: EncryptionKeyPair, sender: PublicEncryptionKey) -> T:
        """Decrypt and decode; raises DecryptionFailed or another ProtocolError."""
        return self.codec.decode(open_two_party(recipient, sender, self.data))

    def open_with(self, shared: bytes) -> T:
        """As :meth:`open`, with a precomputed :func:`shared_key`."""
        return self.codec.decode(open_two_party_with(shared, self.data))

    def __repr__(self) -> str:
        return f"TwoPartyBox[{self.codec.name}]({len(self.data)} bytes)"


@dataclass(frozen=True, slots=True)
class MultiAnonymousBox(Generic[T]):
    """A box holding one ``T`` that any one of several recipients can open."""

    codec: Codec[T]
    slots: int
    data: bytes

    def __post_init__(self) -> None:
        size = self.codec.size + self.slots * MULTI_ANONYMOUS_BOX_SLOT_LEN + POLY1305_TAG_LEN
        require_length(self.data, size, "a multi-anonymous box")

    @classmethod
    def seal(
        cls,
        codec: Codec[T],
        recipients: Sequence[PublicEncryptionKey],
        value: T,
        random_bytes: RandomBytes = nacl.utils.random,
    ) -> MultiAnonymousBox[T]:
        data = seal_multi_anonymous(recipients, codec.encode(value), random_bytes)
        return cls(codec, len(recipients), data)

    def open(self, recipient: EncryptionKeyPair) -> T:
        """Decrypt and decode; raises DecryptionFailed or another ProtocolError."""
        return self.codec.decode(open_multi_anonymous(recipient, self.slots, self.data))

    def __repr__(self) -> str:
        return f"MultiAnonymousBox[{self.codec.name}x{self.slots}]({len(self.data)} bytes)"


def anonymous_box_codec(inner: Codec[T]) -> Codec[AnonymousBox[T]]:
    return Codec(
        f"AnonymousBox[{inner.name}]",
        inner.size + ANONYMOUS_BOX_OVERHEAD,
        lambda box: box.data,
        lambda raw: AnonymousBox(inner, raw),
    )


def two_party_box_codec(inner: Codec[T]) -> Codec[TwoPartyBox[T]]:
    return Codec(
        f"TwoPartyBox[{inner.name}]",
        inner.size + TWO_PARTY_BOX_OVERHEAD,
        lambda box: box.data,
        lambda raw: TwoPartyBox(inner, raw),
    )


def multi_anonymous_box_codec(inner: Codec[T], slots: int) -> Codec[MultiAnonymousBox[T]]:
    return Codec(
        f"MultiAnonymousBox[{inner.name}x{slots}]",
        inner.size + slots * MULTI_ANONYMOUS_BOX_SLOT_LEN + POLY1305_TAG_LEN,
        lambda box: box.data,
        lambda raw: MultiAnonymousBox(inner, slots, raw),
    )
