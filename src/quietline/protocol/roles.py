"""What the organisation key says beyond certificates: which realm a provisioning key
belongs to, and which keys it has revoked (a Quietline extension to CoverDrop).

A CoverDrop certificate signs only a key and its expiry, so nothing in it says whether a
provisioning key certifies CoverNodes or recipients: an edge that moved a recipient's
provisioning family under the CoverNodes would have clients wrap every message for that
recipient. A :class:`RoleStatement` is the organisation key's signature over
``"quietline key role v1" ‖ 0x00 ‖ role ‖ 0x00 ‖ key``: Quietline's clients, desks, mixer
and edge accept a provisioning key only in the realm its statement names.

A :class:`Revocation` is the organisation key's signature over
``"quietline key revocation v1" ‖ 0x00 ‖ key ‖ i64BE(revoked_at)``: the key, and
everything it signed, is refused from then on by everyone who sees it.

Both travel in the published key document under a ``quietline`` member that the edge
adds only for clients that ask for it, so CoverDrop's own apps (which refuse unknown
fields) read exactly CoverDrop's document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN
from quietline.protocol.encoding import (
    format_rfc3339,
    hex_decode,
    i64be,
    parse_rfc3339,
    unix_seconds,
)
from quietline.protocol.errors import BadSignature, MalformedInput, MisuseError
from quietline.protocol.jsonvalues import require_list, require_object
from quietline.protocol.keys import PublicSigningKey, SigningKeyPair

_ROLE_CONTEXT = b"quietline key role v1\x00"
_REVOCATION_CONTEXT = b"quietline key revocation v1\x00"
PROVISIONING_ROLES = (KeyRole.COVERNODE_PROVISIONING, KeyRole.JOURNALIST_PROVISIONING)


def _role_data(role: KeyRole, key: bytes) -> bytes:
    return _ROLE_CONTEXT + role.value.encode("ascii") + b"\x00" + key


def _revocation_data(key: bytes, revoked_at: datetime) -> bytes:
    return _REVOCATION_CONTEXT + key + i64be(unix_seconds(revoked_at))


@dataclass(frozen=True, slots=True)
class RoleStatement:
    """The organisation's word that provisioning ``key`` certifies the keys of ``role``'s
    realm (CoverNodes or recipients)."""

    key: bytes
    role: KeyRole
    signature: bytes

    def __post_init__(self) -> None:
        if self.role not in PROVISIONING_ROLES:
            raise MalformedInput("a role statement names a provisioning role")
        if len(self.key) != ED25519_PUBLIC_KEY_LEN or len(self.signature) != ED25519_SIGNATURE_LEN:
            raise MalformedInput("a role statement holds a 32-byte key and a 64-byte signature")

    @classmethod
    def sign(cls, organization: SigningKeyPair, role: KeyRole, key: bytes) -> RoleStatement:
        """The statement binding ``key`` to ``role``; raises MisuseError for a role that
        is not a provisioning role."""
        if role not in PROVISIONING_ROLES:
            raise MisuseError(f"only provisioning keys get role statements, not {role.value}")
        return cls(key, role, organization.sign(_role_data(role, key)))

    def verify(self, organization: PublicSigningKey) -> None:
        """Raise BadSignature unless ``organization`` made this statement."""
        organization.verify(_role_data(self.role, self.key), self.signature)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key.hex(), "role": self.role.value, "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, obj: object) -> RoleStatement:
        """Parse ``{"key", "role", "signature"}``; raises MalformedInput."""
        fields = require_object(obj, "a role statement")
        try:
            role = KeyRole(fields.get("role"))
        except ValueError:
            raise MalformedInput("a role statement names one of the key roles") from None
        return cls(
            hex_decode(fields.get("key"), ED25519_PUBLIC_KEY_LEN),
            role,
            hex_decode(fields.get("signature"), ED25519_SIGNATURE_LEN),
        )


@dataclass(frozen=True, slots=True)
class Revocation:
    """The organisation's word that ``key`` (any key below it) is not to be trusted."""

    key: bytes
    revoked_at: datetime
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.key) != ED25519_PUBLIC_KEY_LEN or len(self.signature) != ED25519_SIGNATURE_LEN:
            raise MalformedInput("a revocation holds a 32-byte key and a 64-byte signature")
        # Only whole seconds are signed: one value per signature, so a revocation reposted
        # with other sub-second digits is the same revocation, not one more to store.
        object.__setattr__(self, "revoked_at", self.revoked_at.replace(microsecond=0))

    @classmethod
    def sign(cls, organization: SigningKeyPair, key: bytes, revoked_at: datetime) -> Revocation:
        """A revocation of ``key`` as of ``revoked_at`` (whole seconds are signed)."""
        moment = revoked_at.replace(microsecond=0)
        return cls(key, moment, organization.sign(_revocation_data(key, moment)))

    def verify(self, organization: PublicSigningKey) -> None:
        """Raise BadSignature unless ``organization`` made this revocation."""
        organization.verify(_revocation_data(self.key, self.revoked_at), self.signature)

    def made_by_any(self, organizations: Iterable[PublicSigningKey]) -> bool:
        """Whether one of ``organizations`` made this revocation."""
        for organization in organizations:
            try:
                self.verify(organization)
            except BadSignature:
                continue
            return True
        return False

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.hex(),
            "revoked_at": format_rfc3339(self.revoked_at),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, obj: object) -> Revocation:
        """Parse ``{"key", "revoked_at", "signature"}``; raises MalformedInput."""
        fields = require_object(obj, "a revocation")
        return cls(
            hex_decode(fields.get("key"), ED25519_PUBLIC_KEY_LEN),
            parse_rfc3339(fields.get("revoked_at")),
            hex_decode(fields.get("signature"), ED25519_SIGNATURE_LEN),
        )


@dataclass(frozen=True, slots=True)
class OrganizationStatements:
    """Every role statement and revocation a document carries (untrusted until each is
    verified under a pinned organisation key)."""

    roles: tuple[RoleStatement, ...] = ()
    revocations: tuple[Revocation, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.roles or self.revocations)

    def to_json(self) -> dict[str, Any]:
        return {
            "roles": [statement.to_json() for statement in self.roles],
            "revocations": [revocation.to_json() for revocation in self.revocations],
        }

    @classmethod
    def from_json(cls, obj: object) -> OrganizationStatements:
        """Parse ``{"roles": [...], "revocations": [...]}``; raises MalformedInput."""
        fields = require_object(obj, "the organisation's statements")
        return cls(
            tuple(
                RoleStatement.from_json(item)
                for item in require_list(fields.get("roles", []), "roles")
            ),
            tuple(
                Revocation.from_json(item)
                for item in require_list(fields.get("revocations", []), "revocations")
            ),
        )

    def revoked(self, organization: PublicSigningKey) -> dict[bytes, datetime]:
        """The keys ``organization`` revoked (the earliest time each), ignoring forgeries."""
        found: dict[bytes, datetime] = {}
        for revocation in self.revocations:
            try:
                revocation.verify(organization)
            except BadSignature:
                continue
            earlier = found.get(revocation.key, revocation.revoked_at)
            found[revocation.key] = min(earlier, revocation.revoked_at)
        return found

    def role_of(self, key: bytes, organization: PublicSigningKey) -> KeyRole | None:
        """The realm ``organization`` bound provisioning ``key`` to, if it did (and only
        one: a key it bound to both realms has none)."""
        roles = set()
        for statement in self.roles:
            if statement.key != key:
                continue
            try:
                statement.verify(organization)
            except BadSignature:
                continue
            roles.add(statement.role)
        return roles.pop() if len(roles) == 1 else None
