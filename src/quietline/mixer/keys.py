"""The CoverNode's own keys: its key folder, and the writer that carries out rotation plans.

The folder holds ``provisioning.json`` (the CoverNode provisioning key, from the admin
ceremony), ``identity-*.json`` (identity keys: the first from the admin, later ones made
here) and ``messaging-*.json`` (messaging keys, all made here). What to make and what to
delete is decided by :func:`quietline.protocol.rotation.plan_rotation` under
:data:`COVERNODE_ROTATION` (DESIGN section 3): a new messaging key every week (valid
two), a new identity key every two weeks (valid four), expired keys deleted, an identity
key kept while a messaging key it signed is. The provisioning key is the admin's to renew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from quietline.keystore import (
    certified_key_to_json,
    read_encryption_key,
    read_signing_key,
    write_private_json,
)
from quietline.protocol.api import KeySubmission
from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import KeyUnavailable, MalformedInput, QuietlineError
from quietline.protocol.keygen import AnyCertifiedKey, CertifiedEncryptionKey, CertifiedSigningKey
from quietline.protocol.recipients import RecipientId
from quietline.protocol.rotation import (
    RotationPlan,
    RotationPolicy,
    make_keys,
    newest_valid,
    plan_rotation,
    publishable,
    signed_by,
)

PROVISIONING_FILE = "provisioning.json"
IDENTITY_GLOB = "identity-*.json"
MESSAGING_GLOB = "messaging-*.json"
COVERNODE_ROTATION = RotationPolicy((KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG))


class KeyFolderError(QuietlineError):
    """The key folder is missing a key, or holds one that is not what its name says."""


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What carrying out a plan changed: the keys made (parents first) and the public
    halves of the messaging keys deleted (to forget their replay digests)."""

    made: list[AnyCertifiedKey]
    retired_messaging: list[bytes]


def _stamp(now: datetime, public: bytes) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{public[:4].hex()}"


@dataclass
class CoverNodeKeys:
    """The keys in one CoverNode key folder, kept in step with the files."""

    folder: Path
    covernode_id: RecipientId
    provisioning: CertifiedSigningKey
    identities: dict[Path, CertifiedSigningKey] = field(default_factory=dict)
    messaging: dict[Path, CertifiedEncryptionKey] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, covernode_id: str) -> CoverNodeKeys:
        """Read every key file in ``folder``; raises KeyFolderError naming the bad file or
        a messaging key whose identity key is missing."""
        if not folder.is_dir():
            raise KeyFolderError(
                f"the CoverNode key folder {folder} does not exist (run `quietline admin init`)"
            )
        try:
            keys = cls(
                folder,
                RecipientId(covernode_id),
                read_signing_key(folder / PROVISIONING_FILE, KeyRole.COVERNODE_PROVISIONING),
            )
            for path in sorted(folder.glob(IDENTITY_GLOB)):
                keys.identities[path] = read_signing_key(path, KeyRole.COVERNODE_ID)
            for path in sorted(folder.glob(MESSAGING_GLOB)):
                keys.messaging[path] = read_encryption_key(path, KeyRole.COVERNODE_MSG)
        except OSError as error:
            raise KeyFolderError(f"cannot read {error.filename}: {error.strerror}") from None
        except MalformedInput as error:
            raise KeyFolderError(f"a file of the key folder is not usable: {error}") from None
        for messaging in keys.messaging.values():
            keys.parent_of(messaging)  # every messaging key needs its identity on disk
        return keys

    def held(self) -> list[AnyCertifiedKey]:
        return [self.provisioning, *self.identities.values(), *self.messaging.values()]

    # --- what is valid now ------------------------------------------------------------

    def current_identity(self, now: datetime) -> CertifiedSigningKey:
        """The newest identity key valid at ``now``: it signs forms and dead drops.

        Raises KeyUnavailable when none is valid (rotate first).
        """
        try:
            return newest_valid(list(self.identities.values()), KeyRole.COVERNODE_ID, now)
        except KeyUnavailable:
            raise KeyUnavailable("the CoverNode has no valid identity key") from None

    def current_messaging(self, now: datetime) -> CertifiedEncryptionKey:
        """The newest messaging key valid at ``now``: the sender of C2J boxes.

        Raises KeyUnavailable when none is valid (rotate first).
        """
        valid = self.live_messaging(now)
        if not valid:
            raise KeyUnavailable("the CoverNode has no valid messaging key")
        return valid[0]

    def live_messaging(self, now: datetime) -> list[CertifiedEncryptionKey]:
        """Every messaging key valid at ``now``, newest first: inputs are opened with each."""
        valid = [key for key in self.messaging.values() if now <= key.not_valid_after]
        return sorted(valid, key=lambda key: key.created_at, reverse=True)

    def parent_of(self, key: CertifiedEncryptionKey) -> CertifiedSigningKey:
        """The identity key whose certificate ``key`` carries.

        Raises KeyFolderError when no identity key in the folder signed it.
        """
        parent = signed_by(key, list(self.identities.values()))
        if parent is None:
            raise KeyFolderError(
                f"messaging key {key.published.key[:4].hex()}… was not signed by any identity key"
            )
        return parent

    # --- rotation: the plan, then the writer ----------------------------------------------

    def plan(self, now: datetime) -> RotationPlan:
        return plan_rotation(self.held(), COVERNODE_ROTATION, now)

    def apply(self, plan: RotationPlan, now: datetime) -> RotationOutcome:
        """Make the keys ``plan`` creates and write them (0600) into the folder, then delete
        the files of the keys it retires.

        Raises KeyUnavailable when the provisioning key has expired and an identity key
        is needed: the admin must renew it.
        """
        try:
            made = make_keys(plan, self.held(), now)
        except KeyUnavailable:
            raise KeyUnavailable(
                "the CoverNode provisioning key has expired: renew it with `quietline admin`"
            ) from None
        for key in made:
            prefix = "identity" if key.role is KeyRole.COVERNODE_ID else "messaging"
            path = self.folder / f"{prefix}-{_stamp(now, key.published.key)}.json"
            write_private_json(path, certified_key_to_json(key))
            if isinstance(key, CertifiedSigningKey):
                self.identities[path] = key
            else:
                self.messaging[path] = key
        retired = []
        for path, messaging in list(self.messaging.items()):
            if messaging in plan.retire:
                path.unlink(missing_ok=True)
                del self.messaging[path]
                retired.append(messaging.published.key)
        for path, identity in list(self.identities.items()):
            if identity in plan.retire:
                path.unlink(missing_ok=True)
                del self.identities[path]
        return RotationOutcome(made, retired)

    def rotate(self, now: datetime) -> RotationOutcome:
        """Plan at ``now`` and carry the plan out."""
        return self.apply(self.plan(now), now)

    # --- publication ------------------------------------------------------------------

    def to_publish(self, now: datetime, anchor_key: bytes) -> list[KeySubmission]:
        """Every valid key, parents before children, as ``POST /v1/keys`` bodies.

        ``anchor_key`` is the organisation key that certified the provisioning key.
        """
        bodies = []
        for key in publishable(self.held(), now):
            if key is self.provisioning:
                bodies.append(KeySubmission(key.role, None, anchor_key, key.published))
            elif isinstance(key, CertifiedEncryptionKey):
                parent = self.parent_of(key).published.key
                bodies.append(KeySubmission(key.role, self.covernode_id, parent, key.published))
            else:
                parent = self.provisioning.published.key
                bodies.append(KeySubmission(key.role, self.covernode_id, parent, key.published))
        return bodies
