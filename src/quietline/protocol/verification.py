"""Verifying a published key hierarchy from pinned anchors, and choosing keys from it.

Every chain is verified from the pinned organisation anchors at an injected ``now``; a
child's effective expiry is clamped to its parent's; expired or forged keys are rejected
and reported by name, and everything below a rejected key goes with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quietline.protocol.certificates import KeyRole, SignedKey, check_not_expired
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import KeyExpired, KeyUnavailable, ProtocolError, UntrustedKey
from quietline.protocol.hierarchy import JournalistProfile, ProvisioningFamily, PublishedKeys
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    JournalistMessagingKey,
    PublicEncryptionKey,
    PublicSigningKey,
)


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """A key whose chain verified; ``not_valid_after`` is clamped to every ancestor's."""

    role: KeyRole
    owner: str | None
    key: bytes
    not_valid_after: datetime

    def signing_key(self) -> PublicSigningKey:
        return PublicSigningKey(self.key)

    def encryption_key(self) -> PublicEncryptionKey:
        return PublicEncryptionKey(self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role.value,
            "owner": self.owner,
            "key": self.key.hex(),
            "not_valid_after": format_rfc3339(self.not_valid_after),
        }


@dataclass(frozen=True, slots=True)
class RejectedKey:
    """A published key that did not verify, and why."""

    role: KeyRole
    owner: str | None
    key: bytes
    reason: str

    def describe(self) -> str:
        owner = f" of {self.owner}" if self.owner else ""
        return f"{self.role.value} key{owner} {self.key[:8].hex()}…: {self.reason}"


@dataclass(frozen=True)
class VerifiedKeys:
    """Every key that verified at one ``now``, with the profiles that name verified recipients."""

    now: datetime
    keys: tuple[VerifiedKey, ...]
    profiles: tuple[JournalistProfile, ...]
    default_journalist_id: str | None
    max_epoch: int
    _by_role: dict[KeyRole, dict[str, list[VerifiedKey]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_role: dict[KeyRole, dict[str, list[VerifiedKey]]] = {}
        for key in self.keys:
            by_role.setdefault(key.role, {}).setdefault(key.owner or "", []).append(key)
        for owners in by_role.values():
            for keys in owners.values():
                keys.sort(key=lambda k: k.not_valid_after, reverse=True)
        object.__setattr__(self, "_by_role", by_role)

    def of_role(self, role: KeyRole) -> Mapping[str, Sequence[VerifiedKey]]:
        """Keys of ``role`` by owner, each list newest (longest remaining lifetime) first."""
        return self._by_role.get(role, {})

    def covernode_wrapping_keys(self, count: int = 2) -> list[CoverNodeMessagingKey]:
        """The CoverNode messaging keys to wrap a message for: the newest key of each of
        ``count`` CoverNodes (by id), repeating the first when fewer nodes run.

        Raises KeyUnavailable when no CoverNode messaging key is valid.
        """
        newest = [
            CoverNodeMessagingKey(keys[0].key)
            for _, keys in sorted(self.of_role(KeyRole.COVERNODE_MSG).items())
        ]
        if not newest:
            raise KeyUnavailable("no valid CoverNode messaging key is published")
        return [newest[i] if i < len(newest) else newest[0] for i in range(count)]

    def covernode_messaging_keys(self) -> list[CoverNodeMessagingKey]:
        """Every valid CoverNode messaging key: what C2J entries may come from."""
        return [
            CoverNodeMessagingKey(key.key)
            for keys in self.of_role(KeyRole.COVERNODE_MSG).values()
            for key in keys
        ]

    def journalist_messaging_key(self, journalist_id: str) -> JournalistMessagingKey:
        """The recipient's messaging key with the longest remaining lifetime.

        Raises KeyUnavailable when the recipient has no valid messaging key.
        """
        keys = self.of_role(KeyRole.JOURNALIST_MSG).get(journalist_id)
        if not keys:
            raise KeyUnavailable(f"no valid messaging key is published for {journalist_id!r}")
        return JournalistMessagingKey(keys[0].key)

    def signing_keys(self, role: KeyRole) -> Iterator[PublicSigningKey]:
        for keys in self.of_role(role).values():
            for key in keys:
                yield key.signing_key()


@dataclass(frozen=True)
class KeyVerification:
    """The outcome of verifying a published hierarchy: what verified and what did not."""

    verified: VerifiedKeys
    rejected: tuple[RejectedKey, ...]


def verify_anchor(anchor: SignedKey, now: datetime) -> VerifiedKey:
    """Check a pinned organisation key's self-signature and expiry.

    Raises BadSignature or KeyExpired.
    """
    anchor.verify_certificate(anchor.signing_key())
    check_not_expired(anchor, now, "the organisation anchor")
    return VerifiedKey(KeyRole.ORGANIZATION, None, anchor.key, anchor.not_valid_after)


def _signed_keys(family: ProvisioningFamily) -> Iterator[SignedKey]:
    yield family.provisioning
    for identities in family.members.values():
        for identity in identities:
            yield identity.identity
            yield from identity.messaging


class _Verifier:
    def __init__(self, now: datetime, published: PublishedKeys, *, require_roles: bool) -> None:
        self.now = now
        self.statements = published.statements
        self.require_roles = require_roles
        self.verified: list[VerifiedKey] = []
        self.rejected: list[RejectedKey] = []
        self.revoked: dict[bytes, datetime] = {}
        # Certificates do not name a role, so a server could publish one key in two
        # places (say a journalist provisioning key also under the CoverNodes) to make
        # clients wrap messages for the wrong party. A key must have exactly one place.
        seen: Counter[bytes] = Counter(
            signed.key
            for organization in published.families
            for family in (*organization.covernodes, *organization.journalists)
            for signed in _signed_keys(family)
        )
        self.ambiguous = {key for key, count in seen.items() if count > 1}

    def check(
        self, signed: SignedKey, role: KeyRole, owner: str | None, parent: VerifiedKey | None
    ) -> VerifiedKey | None:
        if parent is None:
            self.rejected.append(
                RejectedKey(role, owner, signed.key, "its signing key was rejected")
            )
            return None
        if signed.key in self.ambiguous:
            reason = "published in more than one place in the hierarchy"
            self.rejected.append(RejectedKey(role, owner, signed.key, reason))
            return None
        if signed.key in self.revoked:
            reason = f"revoked by the organisation at {format_rfc3339(self.revoked[signed.key])}"
            self.rejected.append(RejectedKey(role, owner, signed.key, reason))
            return None
        try:
            signed.verify_certificate(parent.signing_key())
            expiry = min(signed.not_valid_after, parent.not_valid_after)
            if self.now > expiry:
                raise KeyExpired(f"expired at {format_rfc3339(expiry)}")
        except ProtocolError as error:
            self.rejected.append(RejectedKey(role, owner, signed.key, str(error)))
            return None
        key = VerifiedKey(role, owner, signed.key, expiry)
        self.verified.append(key)
        return key

    def family(self, family: ProvisioningFamily, organization: VerifiedKey | None) -> None:
        provisioning_role, id_role, msg_role = family.realm.roles
        provisioning: VerifiedKey | None = None
        if (
            organization is not None
            and self.require_roles
            and (
                self.statements.role_of(family.provisioning.key, organization.signing_key())
                is not provisioning_role
            )
        ):
            reason = f"no statement of the organisation binds it to the {family.realm.value}"
            self.rejected.append(
                RejectedKey(provisioning_role, None, family.provisioning.key, reason)
            )
        else:
            provisioning = self.check(family.provisioning, provisioning_role, None, organization)
        for member, identities in family.members.items():
            for identity_family in identities:
                identity = self.check(identity_family.identity, id_role, member, provisioning)
                for messaging in identity_family.messaging:
                    self.check(messaging, msg_role, member, identity)


def verify_published_keys(
    published: PublishedKeys,
    anchors: Iterable[SignedKey],
    now: datetime,
    *,
    require_roles: bool = True,
) -> KeyVerification:
    """Verify every chain in ``published`` from the pinned ``anchors`` at ``now``.

    With ``require_roles`` (Quietline's deployments: clients, desks, the mixer and the
    edge) a provisioning key is trusted only in the realm an organisation role statement
    binds it to; without it (reading a CoverDrop deployment, which has no statements) only
    CoverDrop's rules apply. Keys the organisation revoked are refused either way.

    Never raises on bad keys: each one is reported in ``rejected`` and left out of
    ``verified``. Raises UntrustedKey only when no anchor itself verifies.
    """
    verifier = _Verifier(now, published, require_roles=require_roles)
    trusted: dict[bytes, VerifiedKey] = {}
    for anchor in anchors:
        try:
            trusted[anchor.key] = verify_anchor(anchor, now)
        except ProtocolError as error:
            verifier.rejected.append(
                RejectedKey(KeyRole.ORGANIZATION, None, anchor.key, str(error))
            )
    if not trusted:
        raise UntrustedKey("no pinned organisation anchor is valid at this time")
    for anchor_key in trusted.values():
        for key, revoked_at in published.statements.revoked(anchor_key.signing_key()).items():
            verifier.revoked[key] = min(revoked_at, verifier.revoked.get(key, revoked_at))

    for family in published.families:
        organization = trusted.get(family.organization.key)
        if organization is None:
            verifier.rejected.append(
                RejectedKey(
                    KeyRole.ORGANIZATION,
                    None,
                    family.organization.key,
                    "not a pinned organisation anchor",
                )
            )
        elif organization not in verifier.verified:
            verifier.verified.append(organization)
        for provisioning in (*family.covernodes, *family.journalists):
            verifier.family(provisioning, organization)

    verified_recipients = {k.owner for k in verifier.verified if k.role is KeyRole.JOURNALIST_ID}
    profiles = []
    for profile in published.profiles:
        if not profile.tag.names(profile.id):
            verifier.rejected.append(
                RejectedKey(
                    KeyRole.JOURNALIST_ID,
                    profile.id,
                    profile.tag.raw,
                    "profile tag is not SHA-256 of its id",
                )
            )
        elif profile.id in verified_recipients:
            profiles.append(profile)
    default = published.default_journalist_id
    keys = VerifiedKeys(
        now,
        tuple(verifier.verified),
        tuple(profiles),
        default if default in verified_recipients else None,
        published.max_epoch,
    )
    return KeyVerification(keys, tuple(verifier.rejected))
