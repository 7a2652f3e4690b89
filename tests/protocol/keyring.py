"""A complete, valid key hierarchy built in code, for protocol tests.

:func:`build_keyring` certifies an organisation key (self-signed), the CoverNode and
journalist provisioning keys, and for each CoverNode and journalist an identity key
with one or two messaging keys, all at expiries taken from
:mod:`quietline.protocol.constants` relative to an injected ``now``. Every key is
derived from a label and a ``seed``, so a keyring is the same bytes on every run.

The :class:`Keyring` keeps the secret halves (to sign dead drops and open boxes with)
and builds the :class:`PublishedKeys` a Quietline edge would serve for it (with the
organisation key's role statements, so it verifies with ``require_roles``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from quietline.protocol.certificates import KeyRole, SignedKey, certify, self_certify
from quietline.protocol.constants import (
    COVERNODE_ID_KEY_VALIDITY,
    COVERNODE_MSG_KEY_ROTATE_AFTER,
    COVERNODE_MSG_KEY_VALIDITY,
    JOURNALIST_ID_KEY_VALIDITY,
    JOURNALIST_MSG_KEY_ROTATE_AFTER,
    JOURNALIST_MSG_KEY_VALIDITY,
    ORGANIZATION_KEY_VALIDITY,
    PROVISIONING_KEY_VALIDITY,
)
from quietline.protocol.hierarchy import (
    IdentityFamily,
    JournalistProfile,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keys import (
    EncryptionKeyPair,
    PublicEncryptionKey,
    SigningKeyPair,
)
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, RoleStatement
from quietline.protocol.verification import KeyVerification, VerifiedKeys, verify_published_keys

# When the long-lived keys were made, relative to ``now``: long enough ago that a
# rotated messaging key (a week older than the newest) was signed after its identity.
ROOT_ISSUED_AGO = timedelta(days=30)
IDENTITY_ISSUED_AGO = timedelta(days=8)
NEWEST_MESSAGING_ISSUED_AGO = timedelta(hours=1)
MAX_MESSAGING_KEYS = 2


def derive_signing_pair(seed: int, label: str) -> SigningKeyPair:
    """An Ed25519 pair that depends only on ``seed`` and ``label``."""
    return SigningKeyPair.from_seed(_secret(seed, label))


def derive_encryption_pair(seed: int, label: str) -> EncryptionKeyPair:
    """An X25519 pair that depends only on ``seed`` and ``label``."""
    return EncryptionKeyPair.from_secret(_secret(seed, label))


def _secret(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"quietline test keyring/{seed}/{label}".encode()).digest()


@dataclass(frozen=True)
class IssuedSigningKey:
    """A signing key pair and its published, certified form."""

    pair: SigningKeyPair
    signed: SignedKey

    @property
    def not_valid_after(self) -> datetime:
        return self.signed.not_valid_after


@dataclass(frozen=True)
class IssuedEncryptionKey:
    """An encryption key pair and its published, certified form."""

    pair: EncryptionKeyPair
    signed: SignedKey

    @property
    def public(self) -> PublicEncryptionKey:
        return self.pair.public

    @property
    def not_valid_after(self) -> datetime:
        return self.signed.not_valid_after


def issue_signing_key(
    parent: IssuedSigningKey, pair: SigningKeyPair, issued_at: datetime, validity: timedelta
) -> IssuedSigningKey:
    """Certify ``pair`` under ``parent`` at ``issued_at`` for ``validity``."""
    signed = certify(
        parent.pair, parent.not_valid_after, pair.public.raw, issued_at + validity, issued_at
    )
    return IssuedSigningKey(pair, signed)


def issue_encryption_key(
    parent: IssuedSigningKey, pair: EncryptionKeyPair, issued_at: datetime, validity: timedelta
) -> IssuedEncryptionKey:
    """Certify the encryption key ``pair`` under ``parent`` at ``issued_at`` for ``validity``."""
    signed = certify(
        parent.pair, parent.not_valid_after, pair.public.raw, issued_at + validity, issued_at
    )
    return IssuedEncryptionKey(pair, signed)


@dataclass(frozen=True)
class Member:
    """A CoverNode or a journalist: its identity key and the messaging keys it signed."""

    id: str
    identity: IssuedSigningKey
    messaging: tuple[IssuedEncryptionKey, ...]

    @property
    def newest_messaging(self) -> IssuedEncryptionKey:
        """The messaging key with the longest remaining lifetime."""
        return max(self.messaging, key=lambda key: key.not_valid_after)

    def messaging_pairs(self) -> list[EncryptionKeyPair]:
        return [key.pair for key in self.messaging]

    def family(self) -> IdentityFamily:
        return IdentityFamily(self.identity.signed, tuple(key.signed for key in self.messaging))


@dataclass(frozen=True)
class Keyring:
    """Every secret of a test deployment, and the key document it publishes."""

    now: datetime
    organization: IssuedSigningKey
    covernode_provisioning: IssuedSigningKey
    journalist_provisioning: IssuedSigningKey
    covernodes: tuple[Member, ...]
    journalists: tuple[Member, ...]
    max_epoch: int = 1

    @property
    def anchor(self) -> SignedKey:
        """The organisation key as a client pins it."""
        return self.organization.signed

    def covernode(self, covernode_id: str) -> Member:
        return next(member for member in self.covernodes if member.id == covernode_id)

    def journalist(self, journalist_id: str) -> Member:
        return next(member for member in self.journalists if member.id == journalist_id)

    def with_member(self, member: Member) -> Keyring:
        """This keyring with the CoverNode or journalist of the same id replaced by ``member``."""
        return replace(
            self,
            covernodes=tuple(member if m.id == member.id else m for m in self.covernodes),
            journalists=tuple(member if m.id == member.id else m for m in self.journalists),
        )

    def organization_family(self) -> OrganizationFamily:
        return OrganizationFamily(
            self.anchor,
            (_provisioning_family(Realm.COVERNODE, self.covernode_provisioning, self.covernodes),),
            (
                _provisioning_family(
                    Realm.JOURNALIST, self.journalist_provisioning, self.journalists
                ),
            ),
        )

    def role_statements(self) -> OrganizationStatements:
        """The organisation key's statements binding each provisioning key to its realm."""
        return OrganizationStatements(
            tuple(
                RoleStatement.sign(self.organization.pair, role, provisioning.signed.key)
                for role, provisioning in (
                    (KeyRole.COVERNODE_PROVISIONING, self.covernode_provisioning),
                    (KeyRole.JOURNALIST_PROVISIONING, self.journalist_provisioning),
                )
            )
        )

    def published_keys(self) -> PublishedKeys:
        """What ``GET /v1/public-keys?quietline=1`` serves for this keyring."""
        return PublishedKeys(
            tuple(
                JournalistProfile.create(
                    member.id, f"Reporter {member.id}", f"test recipient {member.id}", is_desk=False
                )
                for member in self.journalists
            ),
            self.journalists[0].id if self.journalists else None,
            (self.organization_family(),),
            self.max_epoch,
            self.role_statements(),
        )

    def verify(self, now: datetime | None = None) -> KeyVerification:
        """Verify the published keys from this keyring's anchor at ``now`` (default: its own)."""
        return verify_published_keys(
            self.published_keys(), [self.anchor], self.now if now is None else now
        )

    def verified(self) -> VerifiedKeys:
        """The verified keys at ``now``; fails the calling test if anything was rejected."""
        verification = self.verify()
        assert verification.rejected == (), [r.describe() for r in verification.rejected]
        return verification.verified


def _provisioning_family(
    realm: Realm, provisioning: IssuedSigningKey, members: Sequence[Member]
) -> ProvisioningFamily:
    return ProvisioningFamily(
        realm,
        provisioning.signed,
        {RecipientId(member.id): (member.family(),) for member in members},
    )


def build_keyring(
    now: datetime,
    *,
    covernode_ids: Sequence[str] = ("covernode_001",),
    journalist_ids: Sequence[str] = ("journalist_a",),
    messaging_keys: int = 1,
    max_epoch: int = 1,
    seed: int = 0,
) -> Keyring:
    """A hierarchy in which every key is valid at ``now``.

    Each identity key signs ``messaging_keys`` (1 or 2) messaging keys, one rotation
    period apart, listed oldest first: the newest is the last one.
    """
    if not 1 <= messaging_keys <= MAX_MESSAGING_KEYS:
        raise ValueError(f"messaging_keys must be 1 to {MAX_MESSAGING_KEYS}")
    root_issued = now - ROOT_ISSUED_AGO
    org_pair = derive_signing_pair(seed, "organization")
    organization = IssuedSigningKey(
        org_pair, self_certify(org_pair, root_issued + ORGANIZATION_KEY_VALIDITY)
    )

    def provisioning(label: str) -> IssuedSigningKey:
        pair = derive_signing_pair(seed, label)
        return issue_signing_key(organization, pair, root_issued, PROVISIONING_KEY_VALIDITY)

    def member(
        realm: Realm,
        member_id: str,
        parent: IssuedSigningKey,
        identity_validity: timedelta,
        messaging_validity: timedelta,
        rotate_after: timedelta,
    ) -> Member:
        identity = issue_signing_key(
            parent,
            derive_signing_pair(seed, f"{realm.value}/{member_id}/identity"),
            now - IDENTITY_ISSUED_AGO,
            identity_validity,
        )
        messaging = tuple(
            issue_encryption_key(
                identity,
                derive_encryption_pair(seed, f"{realm.value}/{member_id}/messaging/{index}"),
                now - NEWEST_MESSAGING_ISSUED_AGO - (messaging_keys - 1 - index) * rotate_after,
                messaging_validity,
            )
            for index in range(messaging_keys)
        )
        return Member(member_id, identity, messaging)

    covernode_provisioning = provisioning("covernode provisioning")
    journalist_provisioning = provisioning("journalist provisioning")
    return Keyring(
        now,
        organization,
        covernode_provisioning,
        journalist_provisioning,
        tuple(
            member(
                Realm.COVERNODE,
                covernode_id,
                covernode_provisioning,
                COVERNODE_ID_KEY_VALIDITY,
                COVERNODE_MSG_KEY_VALIDITY,
                COVERNODE_MSG_KEY_ROTATE_AFTER,
            )
            for covernode_id in covernode_ids
        ),
        tuple(
            member(
                Realm.JOURNALIST,
                journalist_id,
                journalist_provisioning,
                JOURNALIST_ID_KEY_VALIDITY,
                JOURNALIST_MSG_KEY_VALIDITY,
                JOURNALIST_MSG_KEY_ROTATE_AFTER,
            )
            for journalist_id in journalist_ids
        ),
        max_epoch,
    )
