"""Key certificates: a parent's Ed25519 signature over ``key ‖ i64BE(not_valid_after)``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from quietline.protocol.constants import ED25519_SIGNATURE_LEN
from quietline.protocol.encoding import (
    format_rfc3339,
    hex_decode,
    i64be,
    parse_rfc3339,
    unix_seconds,
)
from quietline.protocol.errors import KeyExpired, KeyUnavailable, MalformedInput
from quietline.protocol.jsonvalues import require_object
from quietline.protocol.keys import PublicEncryptionKey, PublicSigningKey, SigningKeyPair


class KeyRole(enum.Enum):
    """Every role in the key hierarchy, with what kind of key it is."""

    ORGANIZATION = "organization"
    COVERNODE_PROVISIONING = "covernode_provisioning"
    COVERNODE_ID = "covernode_id"
    COVERNODE_MSG = "covernode_msg"
    JOURNALIST_PROVISIONING = "journalist_provisioning"
    JOURNALIST_ID = "journalist_id"
    JOURNALIST_MSG = "journalist_msg"

    @property
    def is_encryption_key(self) -> bool:
        return self in (KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_MSG)


def certificate_data(key: bytes, not_valid_after: datetime) -> bytes:
    """The bytes a parent signs: the key, then its expiry in whole unix seconds, big-endian."""
    return key + i64be(unix_seconds(not_valid_after))


@dataclass(frozen=True, slots=True)
class SignedKey:
    """A public key as published: the key, its certificate and its expiry."""

    key: bytes
    certificate: bytes
    not_valid_after: datetime

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise MalformedInput("a published key must be 32 bytes")
        if len(self.certificate) != ED25519_SIGNATURE_LEN:
            raise MalformedInput("a certificate must be 64 bytes")

    @classmethod
    def from_json(cls, obj: object) -> SignedKey:
        """Parse ``{"key", "certificate", "not_valid_after"}``; raises MalformedInput."""
        fields = require_object(obj, "a signed key")
        return cls(
            hex_decode(fields.get("key"), 32),
            hex_decode(fields.get("certificate"), ED25519_SIGNATURE_LEN),
            parse_rfc3339(fields.get("not_valid_after")),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "key": self.key.hex(),
            "certificate": self.certificate.hex(),
            "not_valid_after": format_rfc3339(self.not_valid_after),
        }

    def verify_certificate(self, parent: PublicSigningKey) -> None:
        """Raise BadSignature unless ``parent`` certified this key and expiry."""
        parent.verify(certificate_data(self.key, self.not_valid_after), self.certificate)

    def signing_key(self) -> PublicSigningKey:
        return PublicSigningKey(self.key)

    def encryption_key(self) -> PublicEncryptionKey:
        return PublicEncryptionKey(self.key)

    def __repr__(self) -> str:
        return f"SignedKey({self.key[:4].hex()}…, until {format_rfc3339(self.not_valid_after)})"


def certify(
    parent: SigningKeyPair,
    parent_not_valid_after: datetime,
    child: bytes,
    not_valid_after: datetime,
    now: datetime,
) -> SignedKey:
    """Sign ``child`` until ``not_valid_after``, clamped to the parent's own expiry.

    Raises KeyUnavailable when the parent has expired at ``now``: a signing key
    signs nothing after its own expiry.
    """
    if now > parent_not_valid_after:
        raise KeyUnavailable("the parent key has expired and may no longer sign")
    expiry = min(not_valid_after, parent_not_valid_after)
    return SignedKey(child, parent.sign(certificate_data(child, expiry)), expiry)


def self_certify(key: SigningKeyPair, not_valid_after: datetime) -> SignedKey:
    """The organisation key's self-signed certificate."""
    raw = key.public.raw
    return SignedKey(raw, key.sign(certificate_data(raw, not_valid_after)), not_valid_after)


def check_not_expired(signed: SignedKey, now: datetime, what: str) -> None:
    if now > signed.not_valid_after:
        raise KeyExpired(f"{what} expired at {format_rfc3339(signed.not_valid_after)}")
