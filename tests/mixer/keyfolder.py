"""A CoverNode key folder as ``quietline admin init`` leaves it, built in code for tests.

:func:`make_hierarchy` certifies an organisation key, both provisioning keys and a
CoverNode identity at ``now``; :func:`write_covernode_folder` writes the CoverNode's part
(provisioning.json and one identity-*.json) the way the admin does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from quietline.keystore import certified_key_to_json, write_private_json
from quietline.protocol.certificates import KeyRole
from quietline.protocol.keygen import (
    CertifiedSigningKey,
    generate_organization_key,
    generate_signing_key,
)


@dataclass(frozen=True)
class Hierarchy:
    organization: CertifiedSigningKey
    covernode_provisioning: CertifiedSigningKey
    journalist_provisioning: CertifiedSigningKey
    covernode_identity: CertifiedSigningKey


def make_hierarchy(now: datetime) -> Hierarchy:
    organization = generate_organization_key(now)
    covernode_provisioning = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, organization, now)
    return Hierarchy(
        organization,
        covernode_provisioning,
        generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, organization, now),
        generate_signing_key(KeyRole.COVERNODE_ID, covernode_provisioning, now),
    )


def write_covernode_folder(folder: Path, hierarchy: Hierarchy) -> Path:
    """Write provisioning.json and identity-<stamp>.json into ``folder``; returns it."""
    write_private_json(
        folder / "provisioning.json", certified_key_to_json(hierarchy.covernode_provisioning)
    )
    identity = hierarchy.covernode_identity
    write_private_json(
        folder / f"identity-{identity.created_at.strftime('%Y%m%dT%H%M%S%fZ')}.json",
        certified_key_to_json(identity),
    )
    return folder
