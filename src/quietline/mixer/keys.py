"""The CoverNode's own keys: its key folder, and the writer that carries out rotation plans.

The CoverNode provisioning key's secret never comes near the mixer: the admin certifies
the mixer's identity keys ahead of time (``quietline admin certify-mixer``), each with
its turn (its ``created_at``: two weeks apart) and an expiry four weeks after it. The
folder holds:

- ``provisioning-*.pub.json``: the public halves of the provisioning keys that certified
  the identity keys (to name each identity's parent when publishing it);
- ``identity-*.json``: the identity keys, in force from their turn to their expiry;
- ``messaging-*.json``: the messaging keys, all made here.

What to make and delete is decided by :func:`quietline.protocol.rotation.plan_rotation`
under :data:`COVERNODE_ROTATION` (DESIGN section 3): a new messaging key every week
(valid two), signed by the identity key in force; expired keys deleted, an identity key
kept while a messaging key it signed is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from quietline.keystore import (
    certified_key_to_json,
    read_encryption_key,
    read_file,
    read_signing_key,
    write_private_json,
)
from quietline.protocol.api import KeySubmission
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.errors import BadSignature, KeyUnavailable, MalformedInput, QuietlineError
from quietline.protocol.keygen import AnyCertifiedKey, CertifiedEncryptionKey, CertifiedSigningKey
from quietline.protocol.recipients import RecipientId
from quietline.protocol.rotation import (
    RotationPlan,
    RotationPolicy,
    in_force,
    make_keys,
    newest_valid,
    plan_rotation,
    publishable,
    signed_by,
)

PROVISIONING_GLOB = "provisioning-*.pub.json"
LEGACY_PROVISIONING_FILE = "provisioning.json"  # where the secret once lay
IDENTITY_GLOB = "identity-*.json"
MESSAGING_GLOB = "messaging-*.json"
COVERNODE_ROTATION = RotationPolicy(
    (KeyRole.COVERNODE_MSG,), retires=(KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG)
)
# Ask for more identity keys this long before the last one certified runs out.
IDENTITY_RUNWAY_WARNING = timedelta(weeks=2)


class KeyFolderError(QuietlineError):
    """The key folder is missing a key, or holds one that is not what its name says."""


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What carrying out a plan changed: the keys made (parents first) and the public
    halves of the messaging keys deleted (to forget their replay digests)."""

    made: list[AnyCertifiedKey]
    retired_messaging: list[bytes]


def stamp(moment: datetime, public: bytes) -> str:
    """The part of a key file's name that orders and tells apart the keys of a folder."""
    return f"{moment.strftime('%Y%m%dT%H%M%S')}-{public[:4].hex()}"


@dataclass
class CoverNodeKeys:
    """The keys in one CoverNode key folder, kept in step with the files."""

    folder: Path
    covernode_id: RecipientId
    provisioning: list[SignedKey]
    identities: dict[Path, CertifiedSigningKey] = field(default_factory=dict)
    messaging: dict[Path, CertifiedEncryptionKey] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, covernode_id: str) -> CoverNodeKeys:
        """Read every key file in ``folder``; raises KeyFolderError naming the bad file, a
        provisioning secret that does not belong on the mixer, or a messaging key whose
        identity key is missing."""
        if not folder.is_dir():
            raise KeyFolderError(
                f"the CoverNode key folder {folder} does not exist (run `quietline admin init`)"
            )
        if (folder / LEGACY_PROVISIONING_FILE).exists():
            raise KeyFolderError(
                f"{folder / LEGACY_PROVISIONING_FILE} is the CoverNode provisioning key's "
                "secret: it belongs offline with the admin, not on the mixer. Move it to the "
                "admin's machine; `quietline admin certify-mixer` certifies the mixer's "
                "identity keys"
            )
        try:
            keys = cls(
                folder,
                RecipientId(covernode_id),
                [
                    read_file(path, SignedKey.from_json)
                    for path in sorted(folder.glob(PROVISIONING_GLOB))
                ],
            )
            for path in sorted(folder.glob(IDENTITY_GLOB)):
                keys.identities[path] = read_signing_key(path, KeyRole.COVERNODE_ID)
            for path in sorted(folder.glob(MESSAGING_GLOB)):
                keys.messaging[path] = read_encryption_key(path, KeyRole.COVERNODE_MSG)
        except OSError as error:
            raise KeyFolderError(f"cannot read {error.filename}: {error.strerror}") from None
        except MalformedInput as error:
            raise KeyFolderError(f"a file of the key folder is not usable: {error}") from None
        if not keys.provisioning:
            raise KeyFolderError(
                f"{folder} holds no CoverNode provisioning public key ({PROVISIONING_GLOB}): "
                "run `quietline admin certify-mixer`"
            )
        for identity in keys.identities.values():
            keys.provisioning_of(identity)  # every identity needs its parent's public half
        for messaging in keys.messaging.values():
            keys.parent_of(messaging)  # every messaging key needs its identity on disk
        return keys

    def held(self) -> list[AnyCertifiedKey]:
        return [*self.identities.values(), *self.messaging.values()]

    # --- what is in force now ---------------------------------------------------------

    def current_identity(self, now: datetime) -> CertifiedSigningKey:
        """The newest identity key in force at ``now``: it signs forms and dead drops.

        Raises KeyUnavailable when none is (the admin must certify more).
        """
        try:
            return newest_valid(list(self.identities.values()), KeyRole.COVERNODE_ID, now)
        except KeyUnavailable:
            raise KeyUnavailable(
                "the CoverNode has no identity key in force: ask the admin to certify more "
                "(`quietline admin certify-mixer`)"
            ) from None

    def identity_runway(self, now: datetime) -> datetime | None:
        """When the last identity key the admin certified expires (None: none left)."""
        ends = [
            key.not_valid_after for key in self.identities.values() if now <= key.not_valid_after
        ]
        return max(ends, default=None)

    def current_messaging(self, now: datetime) -> CertifiedEncryptionKey:
        """The newest messaging key valid at ``now``: the sender of C2J boxes.

        Raises KeyUnavailable when none is valid (rotate first).
        """
        valid = self.live_messaging(now)
        if not valid:
            raise KeyUnavailable("the CoverNode has no valid messaging key")
        return valid[0]

    def live_messaging(self, now: datetime) -> list[CertifiedEncryptionKey]:
        """Every messaging key in force at ``now``, newest first: inputs are opened with each."""
        valid = [key for key in self.messaging.values() if in_force(key, now)]
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

    def provisioning_of(self, identity: CertifiedSigningKey) -> SignedKey:
        """The provisioning key whose certificate ``identity`` carries.

        Raises KeyFolderError when none in the folder signed it.
        """
        for provisioning in self.provisioning:
            try:
                identity.published.verify_certificate(provisioning.signing_key())
            except BadSignature:
                continue
            return provisioning
        raise KeyFolderError(
            f"identity key {identity.published.key[:4].hex()}… was not certified by any "
            f"provisioning key in {self.folder} ({PROVISIONING_GLOB})"
        )

    # --- rotation: the plan, then the writer ----------------------------------------------

    def plan(self, now: datetime) -> RotationPlan:
        return plan_rotation(self.held(), COVERNODE_ROTATION, now)

    def apply(self, plan: RotationPlan, now: datetime) -> RotationOutcome:
        """Make the keys ``plan`` creates and write them (0600) into the folder, then delete
        the files of the keys it retires.

        Raises KeyUnavailable when no identity key is in force to sign a messaging key
        (saying to ask the admin for more).
        """
        if plan.create:
            self.current_identity(now)  # none in force: say whom to ask, not just what
        made = make_keys(plan, self.held(), now) if plan.create else []
        for key in made:
            if isinstance(key, CertifiedEncryptionKey):
                path = self.folder / f"messaging-{stamp(now, key.published.key)}.json"
                write_private_json(path, certified_key_to_json(key))
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

    def to_publish(self, now: datetime) -> list[KeySubmission]:
        """Every identity and messaging key in force, parents before children, as
        ``POST /v1/keys`` bodies (the provisioning key is the admin's to publish, with
        the organisation's role statement)."""
        bodies = []
        for key in publishable(self.held(), now):
            if isinstance(key, CertifiedEncryptionKey):
                parent = self.parent_of(key).published.key
            else:
                parent = self.provisioning_of(key).key
            bodies.append(KeySubmission(key.role, self.covernode_id, parent, key.published))
        return bodies
