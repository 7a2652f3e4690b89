"""Key ceremonies over a deployment folder (see :mod:`quietline.admin.layout`).

Everything secret is made and kept here, offline: the organisation key, the provisioning
keys (the mixer gets identity keys certified ahead of time, never a provisioning key),
the recipients' bundles. Nothing here touches the network except :func:`publish`, which
uploads certified public keys with the organisation's role statements, signed profiles
and revocations to an edge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from quietline.admin.covernode import certified_identities, certify_mixer
from quietline.admin.layout import Layout, stamp
from quietline.admin.revocation import revocations
from quietline.config import CONFIG_NAME, MixingOverride, default_config_text
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
from quietline.protocol.roles import RoleStatement
from quietline.protocol.rotation import RotationPolicy, make_keys, plan_rotation

# What the admin rotates: the provisioning keys under the organisation key, and each
# recipient's identity key under the journalist provisioning key.
PROVISIONING_ROTATION = RotationPolicy(
    (KeyRole.COVERNODE_PROVISIONING, KeyRole.JOURNALIST_PROVISIONING)
)
IDENTITY_ROTATION = RotationPolicy((KeyRole.JOURNALIST_ID,))


class CeremonyError(QuietlineError):
    """A ceremony cannot go ahead; the message says what to do."""


def write_key(path: Path, key: AnyCertifiedKey) -> None:
    write_private_json(path, certified_key_to_json(key))


def init(
    folder: Path,
    now: datetime,
    *,
    mixing: str = "production",
    edge_port: int = 8350,
    override: MixingOverride | None = None,
) -> Layout:
    """Create a deployment folder: root key, both provisioning keys, the mixer's first
    identity keys (certified ahead of time) and the config (with ``override``'s mixing
    parameters replacing those of ``mixing``, if given).

    Raises CeremonyError when the folder already holds a deployment.
    """
    layout = Layout(folder)
    if layout.config.exists():
        raise CeremonyError(f"{folder} already holds a deployment ({CONFIG_NAME} exists)")
    organization = generate_organization_key(now)
    layout.secrets.mkdir(mode=0o700, parents=True)
    layout.secrets.chmod(0o700)
    write_key(layout.organization, organization)
    for role, path in _provisioning_paths(layout).items():
        write_key(path, generate_signing_key(role, organization, now))
    write_public_json(layout.anchor, organization.published.to_json())
    certify_mixer(layout, now, lambda _: None)
    layout.recipients.mkdir(parents=True, exist_ok=True)
    write_private(layout.config, default_config_text(edge_port, mixing, override=override).encode())
    return layout


def _provisioning_paths(layout: Layout) -> dict[KeyRole, Path]:
    return {
        KeyRole.COVERNODE_PROVISIONING: layout.covernode_provisioning,
        KeyRole.JOURNALIST_PROVISIONING: layout.journalist_provisioning,
    }


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
    provisioning_paths = _provisioning_paths(layout)
    current = [read_signing_key(path, role) for role, path in provisioning_paths.items()]
    held: list[AnyCertifiedKey] = [organization, *current]
    made = make_keys(plan_rotation(held, PROVISIONING_ROTATION, now), held, now)
    for key in made:
        path = provisioning_paths[key.role]
        (previous,) = [old for old in current if old.role is key.role]
        archived = path.with_name(f"{path.stem}-{stamp(previous.created_at)}.json")
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
    """Upload the provisioning keys with the organisation's role statements, the mixer's
    identity keys in force, every recipient's identity and first messaging key, the signed
    profiles and the revocations. Idempotent: run it again after every enrolment,
    renewal, certification or revocation. A revoked key is never sent again (the edge
    refuses it), nor is a recipient whose identity is revoked."""
    made = revocations(layout)
    revoked = {revocation.key for revocation in made}
    anchor = SignedKey.from_json(read_json(layout.anchor))
    organization = read_signing_key(layout.organization, KeyRole.ORGANIZATION)
    provisioning = {
        role: read_signing_key(path, role) for role, path in _provisioning_paths(layout).items()
    }
    for role, key in provisioning.items():
        if key.published.key in revoked:
            continue
        statement = RoleStatement.sign(organization.pair, role, key.published.key)
        edge.publish_key(KeySubmission(role, None, anchor.key, key.published, statement.signature))
    for identity in certified_identities(layout):
        if identity.in_force(now) and not {identity.key.key, identity.provisioning} & revoked:
            edge.publish_key(identity.submission())
    report("published the provisioning keys, with their roles, and the mixer's identity")
    journalist_provisioning = provisioning[KeyRole.JOURNALIST_PROVISIONING]
    for path in sorted(layout.recipients.glob("*.json")):
        bundle = read_bundle(path)
        recipient = bundle.profile.id
        if {bundle.identity.published.key, journalist_provisioning.published.key} & revoked:
            report(f"left out {recipient}: its keys are revoked")
            continue
        edge.publish_key(
            KeySubmission(
                KeyRole.JOURNALIST_ID,
                recipient,
                journalist_provisioning.published.key,
                bundle.identity.published,
            )
        )
        messaging: CertifiedEncryptionKey = bundle.messaging
        if now <= messaging.not_valid_after and messaging.published.key not in revoked:
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
    for revocation in made:
        edge.publish_revocation(revocation)
    if made:
        report(f"published {len(made)} revocations")
