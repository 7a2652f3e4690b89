"""Key generation and certification for every role (the admin side of the hierarchy).

Each role has a validity (how long a new key lives) and a rotation age (when its
successor should be made), as in DESIGN section 3. A child never outlives its parent
and an expired parent signs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from quietline.protocol import constants as c
from quietline.protocol.certificates import KeyRole, SignedKey, certify, self_certify
from quietline.protocol.errors import MisuseError
from quietline.protocol.keys import EncryptionKeyPair, SigningKeyPair

VALIDITY: dict[KeyRole, timedelta] = {
    KeyRole.ORGANIZATION: c.ORGANIZATION_KEY_VALIDITY,
    KeyRole.COVERNODE_PROVISIONING: c.PROVISIONING_KEY_VALIDITY,
    KeyRole.JOURNALIST_PROVISIONING: c.PROVISIONING_KEY_VALIDITY,
    KeyRole.COVERNODE_ID: c.COVERNODE_ID_KEY_VALIDITY,
    KeyRole.JOURNALIST_ID: c.JOURNALIST_ID_KEY_VALIDITY,
    KeyRole.COVERNODE_MSG: c.COVERNODE_MSG_KEY_VALIDITY,
    KeyRole.JOURNALIST_MSG: c.JOURNALIST_MSG_KEY_VALIDITY,
}

ROTATE_AFTER: dict[KeyRole, timedelta] = {
    KeyRole.ORGANIZATION: c.ORGANIZATION_KEY_ROTATE_AFTER,
    KeyRole.COVERNODE_PROVISIONING: c.PROVISIONING_KEY_ROTATE_AFTER,
    KeyRole.JOURNALIST_PROVISIONING: c.PROVISIONING_KEY_ROTATE_AFTER,
    KeyRole.COVERNODE_ID: c.COVERNODE_ID_KEY_ROTATE_AFTER,
    KeyRole.JOURNALIST_ID: c.JOURNALIST_ID_KEY_ROTATE_AFTER,
    KeyRole.COVERNODE_MSG: c.COVERNODE_MSG_KEY_ROTATE_AFTER,
    KeyRole.JOURNALIST_MSG: c.JOURNALIST_MSG_KEY_ROTATE_AFTER,
}

PARENT: dict[KeyRole, KeyRole] = {
    KeyRole.COVERNODE_PROVISIONING: KeyRole.ORGANIZATION,
    KeyRole.JOURNALIST_PROVISIONING: KeyRole.ORGANIZATION,
    KeyRole.COVERNODE_ID: KeyRole.COVERNODE_PROVISIONING,
    KeyRole.JOURNALIST_ID: KeyRole.JOURNALIST_PROVISIONING,
    KeyRole.COVERNODE_MSG: KeyRole.COVERNODE_ID,
    KeyRole.JOURNALIST_MSG: KeyRole.JOURNALIST_ID,
}


P = TypeVar("P", SigningKeyPair, EncryptionKeyPair)


@dataclass(frozen=True, slots=True)
class CertifiedKey(Generic[P]):
    """A key pair with its published, certified public half and when it was made."""

    role: KeyRole
    pair: P
    published: SignedKey
    created_at: datetime

    @property
    def not_valid_after(self) -> datetime:
        return self.published.not_valid_after


class CertifiedSigningKey(CertifiedKey[SigningKeyPair]):
    """An organisation, provisioning or identity key."""

    __slots__ = ()


class CertifiedEncryptionKey(CertifiedKey[EncryptionKeyPair]):
    """A messaging key."""

    __slots__ = ()


AnyCertifiedKey = CertifiedSigningKey | CertifiedEncryptionKey


def _expiry(role: KeyRole, now: datetime) -> datetime:
    # Whole seconds: the certificate signs seconds, so the published time should match it.
    return (now + VALIDITY[role]).replace(microsecond=0)


def _certify_under(
    role: KeyRole, parent: CertifiedSigningKey, public: bytes, now: datetime, starts_at: datetime
) -> SignedKey:
    if PARENT.get(role) is not parent.role:
        raise MisuseError(f"a {role.value} key must be signed by a {PARENT[role].value} key")
    return certify(parent.pair, parent.not_valid_after, public, _expiry(role, starts_at), now)


def generate_organization_key(now: datetime) -> CertifiedSigningKey:
    """A new self-certified organisation root key."""
    pair = SigningKeyPair.generate()
    published = self_certify(pair, _expiry(KeyRole.ORGANIZATION, now))
    return CertifiedSigningKey(KeyRole.ORGANIZATION, pair, published, now)


def generate_signing_key(
    role: KeyRole,
    parent: CertifiedSigningKey,
    now: datetime,
    *,
    starts_at: datetime | None = None,
) -> CertifiedSigningKey:
    """A new provisioning or identity key certified by ``parent`` at ``now``.

    ``starts_at`` (``now`` by default) is when its turn comes: its validity runs from
    then, and that is its ``created_at``, so a key certified ahead of time is in force
    only from its turn (the mixer's identity keys, certified by the offline admin).

    Raises KeyUnavailable when the parent has expired, MisuseError on a wrong parent role
    or a start in the past.
    """
    if role.is_encryption_key or role is KeyRole.ORGANIZATION:
        raise MisuseError(f"{role.value} is not a certified signing role")
    start = now if starts_at is None else starts_at
    if start < now:
        raise MisuseError("a key's turn cannot come before it is made")
    pair = SigningKeyPair.generate()
    published = _certify_under(role, parent, pair.public.raw, now, start)
    return CertifiedSigningKey(role, pair, published, start)


def generate_messaging_key(
    role: KeyRole, parent: CertifiedSigningKey, now: datetime
) -> CertifiedEncryptionKey:
    """A new messaging key certified by the identity key ``parent``.

    Raises KeyUnavailable when the parent has expired, MisuseError on a wrong role.
    """
    if not role.is_encryption_key:
        raise MisuseError(f"{role.value} is not a messaging role")
    pair = EncryptionKeyPair.generate()
    return CertifiedEncryptionKey(
        role, pair, _certify_under(role, parent, pair.public.raw, now, now), now
    )


def rotation_due(role: KeyRole, newest_created_at: datetime | None, now: datetime) -> bool:
    """Whether a successor to the newest key of ``role`` should be made at ``now``.

    Counted from when the holder made its newest key, not from its expiry: an expiry
    clamped to a parent's would otherwise make every new key look due at once.
    """
    return newest_created_at is None or now >= newest_created_at + ROTATE_AFTER[role]
