"""The CoverNode's own keys: load them from its key folder, rotate, publish, retire.

The folder holds ``provisioning.json`` (the CoverNode provisioning key, from the admin
ceremony), ``identity-*.json`` (identity keys: the first from the admin, later ones made
here) and ``messaging-*.json`` (messaging keys, all made here). Rotation follows
DESIGN section 3, counted from when the newest key of a role was made: a new messaging
key every week (valid two), a new identity key every two weeks (valid four), signed with
the provisioning key. Expired keys are deleted; the provisioning key is the admin's to
renew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from quietline.keystore import (
    AnyCertifiedKey,
    certified_key_to_json,
    read_certified_key,
    write_private_json,
)
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.errors import BadSignature, KeyUnavailable, MalformedInput
from quietline.protocol.keygen import (
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_signing_key,
    rotation_due,
)

PROVISIONING_FILE = "provisioning.json"
IDENTITY_GLOB = "identity-*.json"
MESSAGING_GLOB = "messaging-*.json"


class KeyFolderError(Exception):
    """The key folder is missing a key, or holds one that is not what its name says."""


@dataclass(frozen=True, slots=True)
class KeyToPublish:
    """One ``POST /v1/keys`` body: a key, its role, owner and the parent that certified it."""

    role: KeyRole
    owner: str | None
    parent_key: bytes
    key: SignedKey


def _load(path: Path, role: KeyRole) -> AnyCertifiedKey:
    try:
        key = read_certified_key(path)
    except OSError as error:
        raise KeyFolderError(f"cannot read {path}: {error.strerror}") from None
    except MalformedInput as error:
        raise KeyFolderError(f"{path} is not a certified key file: {error}") from None
    if key.role is not role:
        raise KeyFolderError(f"{path} holds a {key.role.value} key, not a {role.value} key")
    return key


def _stamp(now: datetime, public: bytes) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{public[:4].hex()}"


@dataclass
class CoverNodeKeys:
    """The keys in one CoverNode key folder, kept in step with the files."""

    folder: Path
    covernode_id: str
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
        provisioning = _load(folder / PROVISIONING_FILE, KeyRole.COVERNODE_PROVISIONING)
        assert isinstance(provisioning, CertifiedSigningKey)
        keys = cls(folder, covernode_id, provisioning)
        for path in sorted(folder.glob(IDENTITY_GLOB)):
            identity = _load(path, KeyRole.COVERNODE_ID)
            assert isinstance(identity, CertifiedSigningKey)
            keys.identities[path] = identity
        for path in sorted(folder.glob(MESSAGING_GLOB)):
            messaging = _load(path, KeyRole.COVERNODE_MSG)
            assert isinstance(messaging, CertifiedEncryptionKey)
            keys.messaging[path] = messaging
            keys.parent_of(messaging)  # every messaging key needs its identity on disk
        return keys

    # --- what is valid now ------------------------------------------------------------

    def current_identity(self, now: datetime) -> CertifiedSigningKey:
        """The newest identity key valid at ``now``: it signs forms and dead drops.

        Raises KeyUnavailable when none is valid (rotate first).
        """
        valid = [key for key in self.identities.values() if now <= key.not_valid_after]
        if not valid:
            raise KeyUnavailable("the CoverNode has no valid identity key")
        return max(valid, key=lambda key: key.created_at)

    def current_messaging(self, now: datetime) -> CertifiedEncryptionKey:
        """The newest messaging key valid at ``now``: the sender of C2J boxes.

        Raises KeyUnavailable when none is valid (rotate first).
        """
        valid = self.live_messaging(now)
        if not valid:
            raise KeyUnavailable("the CoverNode has no valid messaging key")
        return max(valid, key=lambda key: key.created_at)

    def live_messaging(self, now: datetime) -> list[CertifiedEncryptionKey]:
        """Every messaging key valid at ``now``, newest first: inputs are opened with each."""
        valid = [key for key in self.messaging.values() if now <= key.not_valid_after]
        return sorted(valid, key=lambda key: key.created_at, reverse=True)

    def parent_of(self, key: CertifiedEncryptionKey) -> CertifiedSigningKey:
        """The identity key whose certificate ``key`` carries.

        Raises KeyFolderError when no identity key in the folder signed it.
        """
        for identity in self.identities.values():
            try:
                key.published.verify_certificate(identity.pair.public)
            except BadSignature:
                continue
            return identity
        raise KeyFolderError(
            f"messaging key {key.published.key[:4].hex()}… was not signed by any identity key"
        )

    # --- rotation ---------------------------------------------------------------------

    def _newest(self, keys: Iterable[AnyCertifiedKey], now: datetime) -> datetime | None:
        valid = [key.created_at for key in keys if now <= key.not_valid_after]
        return max(valid, default=None)

    def rotate(self, now: datetime) -> list[AnyCertifiedKey]:
        """Make the identity and messaging keys that are due at ``now`` and write them
        (0600) into the folder. Returns the new keys, parents first.

        Raises KeyUnavailable when the provisioning key has expired and an identity key
        is needed: the admin must renew it.
        """
        made: list[AnyCertifiedKey] = []
        if rotation_due(KeyRole.COVERNODE_ID, self._newest(self.identities.values(), now), now):
            if now > self.provisioning.not_valid_after:
                raise KeyUnavailable(
                    "the CoverNode provisioning key has expired: renew it with `quietline admin`"
                )
            identity = generate_signing_key(KeyRole.COVERNODE_ID, self.provisioning, now)
            path = self.folder / f"identity-{_stamp(now, identity.published.key)}.json"
            write_private_json(path, certified_key_to_json(identity))
            self.identities[path] = identity
            made.append(identity)
        if rotation_due(KeyRole.COVERNODE_MSG, self._newest(self.messaging.values(), now), now):
            parent = self.current_identity(now)
            messaging = generate_messaging_key(KeyRole.COVERNODE_MSG, parent, now)
            path = self.folder / f"messaging-{_stamp(now, messaging.published.key)}.json"
            write_private_json(path, certified_key_to_json(messaging))
            self.messaging[path] = messaging
            made.append(messaging)
        return made

    def retire_expired(self, now: datetime) -> list[bytes]:
        """Delete the files of identity and messaging keys expired at ``now``; returns
        the public keys of the messaging keys deleted (to forget their replay digests).

        A messaging key is only used to open inputs while it is valid, so once expired it
        can open nothing. An identity key stays while a messaging key it signed does.
        """
        deleted = []
        for path, messaging in list(self.messaging.items()):
            if now > messaging.not_valid_after:
                path.unlink(missing_ok=True)
                del self.messaging[path]
                deleted.append(messaging.published.key)
        for path, identity in list(self.identities.items()):
            signed_children = any(
                self.parent_of(child) is identity for child in self.messaging.values()
            )
            if now > identity.not_valid_after and not signed_children:
                path.unlink(missing_ok=True)
                del self.identities[path]
        return deleted

    # --- publication ------------------------------------------------------------------

    def to_publish(self, now: datetime, anchor_key: bytes) -> list[KeyToPublish]:
        """Every valid key, parents before children, as ``POST /v1/keys`` bodies.

        ``anchor_key`` is the organisation key that certified the provisioning key.
        """
        bodies = []
        if now <= self.provisioning.not_valid_after:
            bodies.append(
                KeyToPublish(
                    KeyRole.COVERNODE_PROVISIONING, None, anchor_key, self.provisioning.published
                )
            )
        for identity in sorted(self.identities.values(), key=lambda key: key.created_at):
            if now <= identity.not_valid_after:
                bodies.append(
                    KeyToPublish(
                        KeyRole.COVERNODE_ID,
                        self.covernode_id,
                        self.provisioning.published.key,
                        identity.published,
                    )
                )
        for messaging in sorted(self.messaging.values(), key=lambda key: key.created_at):
            if now <= messaging.not_valid_after:
                bodies.append(
                    KeyToPublish(
                        KeyRole.COVERNODE_MSG,
                        self.covernode_id,
                        self.parent_of(messaging).published.key,
                        messaging.published,
                    )
                )
        return bodies
