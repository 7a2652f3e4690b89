"""Key types: X25519 encryption keys and Ed25519 signing keys.

Secret material never appears in a ``repr`` or ``str``; public keys show a short
hex prefix so logs and errors can name them. Public encryption keys that a caller
could swap by mistake have a type per role (as CoverDrop's ``PublicEncryptionKey<R>``):
a :class:`CoverNodeMessagingKey`, a :class:`JournalistMessagingKey` and a source's
:class:`ReplyKey` are told apart by the type checker, not by keyword.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Self

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils

from quietline.protocol.constants import (
    ED25519_PUBLIC_KEY_LEN,
    ED25519_SEED_LEN,
    ED25519_SIGNATURE_LEN,
    X25519_PUBLIC_KEY_LEN,
    X25519_SECRET_KEY_LEN,
)
from quietline.protocol.errors import BadSignature, MalformedInput

# Any fixed scalar will do: libsodium clamps it, so a low-order point times it is zero.
_LOW_ORDER_PROBE = hashlib.sha256(b"quietline low-order probe").digest()


def _exact(raw: bytes, length: int, what: str) -> bytes:
    if not isinstance(raw, bytes) or len(raw) != length:
        raise MalformedInput(f"{what} must be exactly {length} bytes")
    return raw


@dataclass(frozen=True, slots=True)
class PublicEncryptionKey:
    """An X25519 public key."""

    raw: bytes

    def __post_init__(self) -> None:
        _exact(self.raw, X25519_PUBLIC_KEY_LEN, "an X25519 public key")

    def hex(self) -> str:
        return self.raw.hex()

    def require_contributory(self) -> Self:
        """Return this key if boxes can be sealed to it; raise MalformedInput for a
        low-order point (all zeros, say), with which libsodium refuses to build a shared
        key, so no reply could ever be sealed to it."""
        try:
            shared = sodium.crypto_scalarmult(_LOW_ORDER_PROBE, self.raw)
        except nacl.exceptions.CryptoError:
            shared = bytes(X25519_PUBLIC_KEY_LEN)
        if shared == bytes(X25519_PUBLIC_KEY_LEN):
            raise MalformedInput(
                f"{type(self).__name__} is a low-order point: nothing can be sealed to it"
            )
        return self

    @classmethod
    def of(cls, pair: EncryptionKeyPair) -> Self:
        """The public half of ``pair``, typed as this role."""
        return cls(pair.public.raw)

    # A key is its bytes: the role types keep callers from swapping keys, and a key
    # typed by its role still equals the same key untyped.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicEncryptionKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.raw[:4].hex()}…)"


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class CoverNodeMessagingKey(PublicEncryptionKey):
    """A CoverNode's messaging key: what U2C and J2C are wrapped for, and what C2J
    entries come from."""


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class JournalistMessagingKey(PublicEncryptionKey):
    """A recipient's messaging key: what a source seals its U2J to."""


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class ReplyKey(PublicEncryptionKey):
    """A source's reply key: sent inside its U2J, what replies are boxed to."""


@dataclass(frozen=True, slots=True)
class EncryptionKeyPair:
    """An X25519 key pair. The secret half is hidden from ``repr``."""

    public: PublicEncryptionKey
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _exact(self.secret, X25519_SECRET_KEY_LEN, "an X25519 secret key")

    @classmethod
    def generate(cls) -> EncryptionKeyPair:
        public, secret = sodium.crypto_box_keypair()
        return cls(PublicEncryptionKey(public), secret)

    @classmethod
    def from_secret(cls, secret: bytes) -> EncryptionKeyPair:
        """Rebuild a pair from its 32-byte secret; raises MalformedInput on a bad length."""
        _exact(secret, X25519_SECRET_KEY_LEN, "an X25519 secret key")
        return cls(PublicEncryptionKey(sodium.crypto_scalarmult_base(secret)), secret)


@dataclass(frozen=True, slots=True)
class PublicSigningKey:
    """An Ed25519 public key."""

    raw: bytes

    def __post_init__(self) -> None:
        _exact(self.raw, ED25519_PUBLIC_KEY_LEN, "an Ed25519 public key")

    def hex(self) -> str:
        return self.raw.hex()

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise BadSignature unless ``signature`` is this key's signature of ``message``."""
        if not isinstance(signature, bytes) or len(signature) != ED25519_SIGNATURE_LEN:
            raise BadSignature("a signature must be 64 bytes")
        try:
            sodium.crypto_sign_open(signature + message, self.raw)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as error:
            raise BadSignature(
                f"signature does not verify under key {self.raw[:4].hex()}…"
            ) from error

    def __repr__(self) -> str:
        return f"PublicSigningKey({self.raw[:4].hex()}…)"


@dataclass(frozen=True, slots=True)
class SigningKeyPair:
    """An Ed25519 key pair held as its 32-byte seed, hidden from ``repr``."""

    public: PublicSigningKey
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _exact(self.seed, ED25519_SEED_LEN, "an Ed25519 seed")

    @classmethod
    def generate(cls) -> SigningKeyPair:
        return cls.from_seed(nacl.utils.random(ED25519_SEED_LEN))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKeyPair:
        """Derive the pair from a 32-byte seed; raises MalformedInput on a bad length."""
        _exact(seed, ED25519_SEED_LEN, "an Ed25519 seed")
        public, _ = sodium.crypto_sign_seed_keypair(seed)
        return cls(PublicSigningKey(public), seed)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached Ed25519 signature of ``message``."""
        _, expanded = sodium.crypto_sign_seed_keypair(self.seed)
        signed: bytes = sodium.crypto_sign(message, expanded)
        return signed[:ED25519_SIGNATURE_LEN]


PublicKey = PublicEncryptionKey | PublicSigningKey


def human_digest(key: PublicKey) -> str:
    """The digest a person compares by eye: SHA-512 of the key, first 16 bytes,
    base64 without padding, in groups of six characters."""
    text = base64.b64encode(hashlib.sha512(key.raw).digest()[:16]).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 6] for i in range(0, len(text), 6))
