"""Key ceremonies over a deployment folder.

Layout of the folder ``admin init`` creates::

    quietline.toml                     the typed configuration (quietline.config)
    organization.pub.json              the pinned organisation key: give it to clients
    secrets/organization.json          the organisation root key (keep it offline)
    secrets/journalist_provisioning.json
    secrets/covernode/provisioning.json   the mixer's folder: its provisioning key,
    secrets/covernode/identity-*.json     its identity keys (it makes its own messaging keys)
    recipients/<id>.json               one bundle per enrolled recipient, for its desk

Every secret file is written 0600, whole. Nothing here touches the network except
:func:`publish`, which uploads certified public keys and signed profiles to an edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from quietline.config import CONFIG_NAME, default_config_text
from quietline.edge_client import EdgeClient
from quietline.keystore import (
    Bundle,
    certified_key_to_json,
    read_bundle,
    read_json,
    read_signing_key,
    write_private,
    write_private_json,
    write_public_json,
)
from quietline.protocol.api import KeySubmission, ProfileSubmission
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import MalformedInput, QuietlineError
from quietline.protocol.forms import sign_form
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.keygen import (
    AnyCertifiedKey,
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.keys import human_digest
from quietline.protocol.recipients import RecipientId
from quietline.protocol.rotation import RotationPolicy, make_keys, plan_rotation

ANCHOR_NAME = "organization.pub.json"
COVERNODE_ID = "covernode_001"


# What the admin rotates: the provisioning keys under the organisation key, and each
# recipient's identity key under the journalist provisioning key.
PROVISIONING_ROTATION = RotationPolicy(
    (KeyRole.COVERNODE_PROVISIONING, KeyRole.JOURNALIST_PROVISIONING)
)
IDENTITY_ROTATION = RotationPolicy((KeyRole.JOURNALIST_ID,))


class CeremonyError(QuietlineError):
    """A ceremony cannot go ahead; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each file of a deployment folder lives."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / CONFIG_NAME

    @property
    def anchor(self) -> Path:
        return self.folder / ANCHOR_NAME

    @property
    def organization(self) -> Path:
        return self.folder / "secrets" / "organization.json"

    @property
    def journalist_provisioning(self) -> Path:
        return self.folder / "secrets" / "journalist_provisioning.json"

    @property
    def covernode(self) -> Path:
        return self.folder / "secrets" / "covernode"

    @property
    def covernode_provisioning(self) -> Path:
        return self.covernode / "provisioning.json"

    @property
    def recipients(self) -> Path:
        return self.folder / "recipients"

    def bundle(self, recipient_id: str) -> Path:
        return self.recipients / f"{recipient_id}.json"

    def covernode_identities(self) -> list[CertifiedSigningKey]:
        keys = [
            read_signing_key(path, KeyRole.COVERNODE_ID)
            for path in sorted(self.covernode.glob("identity-*.json"))
        ]
        return sorted(keys, key=lambda key: key.created_at)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def write_key(path: Path, key: AnyCertifiedKey) -> None:
    write_private_json(path, certified_key_to_json(key))


def init(
    folder: Path, now: datetime, *, mixing: str = "production", edge_port: int = 8350
) -> Layout:
    """Create a deployment folder: root key, both provisioning keys, a mixer identity.

    Raises CeremonyError when the folder already holds a deployment.
    """
    layout = Layout(folder)
    if layout.config.exists():
        raise CeremonyError(f"{folder} already holds a deployment ({CONFIG_NAME} exists)")
    organization = generate_organization_key(now)
    covernode_provisioning = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, organization, now)
    journalist_provisioning = generate_signing_key(
        KeyRole.JOURNALIST_PROVISIONING, organization, now
    )
    identity = generate_signing_key(KeyRole.COVERNODE_ID, covernode_provisioning, now)
    layout.covernode.mkdir(mode=0o700, parents=True)
    (folder / "secrets").chmod(0o700)
    write_key(layout.organization, organization)
    write_key(layout.journalist_provisioning, journalist_provisioning)
    write_key(layout.covernode_provisioning, covernode_provisioning)
    write_key(layout.covernode / f"identity-{_stamp(now)}.json", identity)
    write_public_json(layout.anchor, organization.published.to_json())
    layout.recipients.mkdir(parents=True, exist_ok=True)
    write_private(layout.config, default_config_text(edge_port, mixing).encode())
    return layout


def digest(layout: Layout) -> str:
    """The human digest of the pinned organisation key, for videos and posters."""
    return human_digest(SignedKey.from_json(read_json(layout.anchor)).signing_key())


def enroll(
    layout: Layout,
    now: datetime,
    *,
    recipient_id: str,
    display_name: str,
    description: str,
    is_desk: bool,
    default: bool = False,
) -> Path:
    """Create a recipient: identity and messaging keys signed down the chain, in a bundle.

    Raises CeremonyError when the id is taken or malformed.
    """
    try:
        profile = JournalistProfile.create(recipient_id, display_name, description, is_desk=is_desk)
    except MalformedInput as error:
        raise CeremonyError(str(error)) from None
    path = layout.bundle(profile.id)
    if path.exists():
        raise CeremonyError(f"recipient {recipient_id!r} is already enrolled ({path})")
    provisioning = read_signing_key(layout.journalist_provisioning, KeyRole.JOURNALIST_PROVISIONING)
    identity = generate_signing_key(KeyRole.JOURNALIST_ID, provisioning, now)
    messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, now)
    write_private_json(path, Bundle(profile, identity, messaging, default).to_json())
    return path


def renew(layout: Layout, now: datetime, report: Callable[[str], None]) -> int:
    """Make successors for provisioning keys and recipient identities whose rotation is due.

    Returns how many keys were made. Old keys stay until they expire, so nothing that
    verified before stops verifying. The organisation key itself is renewed by pinning
    a new anchor in clients, which no command can do for them.
    """
    organization = read_signing_key(layout.organization, KeyRole.ORGANIZATION)
    provisioning_paths = {
        KeyRole.COVERNODE_PROVISIONING: layout.covernode_provisioning,
        KeyRole.JOURNALIST_PROVISIONING: layout.journalist_provisioning,
    }
    current = [read_signing_key(path, role) for role, path in provisioning_paths.items()]
    held: list[AnyCertifiedKey] = [organization, *current]
    made = make_keys(plan_rotation(held, PROVISIONING_ROTATION, now), held, now)
    for key in made:
        path = provisioning_paths[key.role]
        (previous,) = [old for old in current if old.role is key.role]
        archived = path.with_name(f"{path.stem}-{_stamp(previous.created_at)}.json")
        write_key(archived, previous)
        write_key(path, key)
        report(f"renewed the {key.role.value} key (the old one is kept in {archived.name})")
    provisioning = read_signing_key(layout.journalist_provisioning, KeyRole.JOURNALIST_PROVISIONING)
    for path in sorted(layout.recipients.glob("*.json")):
        bundle = read_bundle(path)
        ring: list[AnyCertifiedKey] = [provisioning, bundle.identity]
        for identity in make_keys(plan_rotation(ring, IDENTITY_ROTATION, now), ring, now):
            if not isinstance(identity, CertifiedSigningKey):
                continue
            # A bundle carries a first messaging key under its identity.
            messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, now)
            renewed = Bundle(bundle.profile, identity, messaging, bundle.default)
            write_private_json(path, renewed.to_json())
            report(f"renewed the identity of {bundle.profile.id}: import {path.name} into its desk")
            made.append(identity)
    return len(made)


def publish(layout: Layout, edge: EdgeClient, now: datetime, report: Callable[[str], None]) -> None:
    """Upload the provisioning keys, the mixer's identity keys, every recipient's identity
    and first messaging key, and the signed profiles. Idempotent: run it again after
    every enrolment or renewal."""
    anchor = SignedKey.from_json(read_json(layout.anchor))
    covernode_provisioning = read_signing_key(
        layout.covernode_provisioning, KeyRole.COVERNODE_PROVISIONING
    )
    journalist_provisioning = read_signing_key(
        layout.journalist_provisioning, KeyRole.JOURNALIST_PROVISIONING
    )
    for key in (covernode_provisioning, journalist_provisioning):
        edge.publish_key(KeySubmission(key.role, None, anchor.key, key.published))
    covernode = RecipientId(COVERNODE_ID)
    for identity in layout.covernode_identities():
        if now <= identity.not_valid_after:
            parent = covernode_provisioning.published.key
            edge.publish_key(KeySubmission(identity.role, covernode, parent, identity.published))
    report("published the provisioning keys and the mixer's identity")
    for path in sorted(layout.recipients.glob("*.json")):
        bundle = read_bundle(path)
        recipient = bundle.profile.id
        edge.publish_key(
            KeySubmission(
                KeyRole.JOURNALIST_ID,
                recipient,
                journalist_provisioning.published.key,
                bundle.identity.published,
            )
        )
        messaging: CertifiedEncryptionKey = bundle.messaging
        if now <= messaging.not_valid_after:
            edge.publish_key(
                KeySubmission(
                    KeyRole.JOURNALIST_MSG,
                    recipient,
                    bundle.identity.published.key,
                    messaging.published,
                )
            )
        submission = ProfileSubmission(bundle.profile, bundle.default)
        edge.publish_profile(sign_form(submission.to_json(), journalist_provisioning.pair, now))
        report(f"published {recipient} ({bundle.profile.display_name}) as of {format_rfc3339(now)}")
