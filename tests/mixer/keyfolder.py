"""A CoverNode key folder as ``quietline admin certify-mixer`` leaves it, written in code
for tests: the CoverNode's part of a ``tests.support.organisation.Organisation``. It holds
the provisioning key's public half (``provisioning-*.pub.json``) and a run of identity keys
certified ahead of time (``identity-*.json``): the organisation's ``covernode_identity``
first, then one more for every two weeks, each in force from its turn. No provisioning
secret: that stays with the admin. The messaging keys are the mixer's own to make."""

from __future__ import annotations

from pathlib import Path

from quietline.admin.covernode import DEFAULT_IDENTITIES
from quietline.keystore import certified_key_to_json, write_private_json, write_public_json
from quietline.mixer.keys import stamp
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import COVERNODE_ID_KEY_ROTATE_AFTER
from quietline.protocol.keygen import CertifiedSigningKey, generate_signing_key
from tests.support.organisation import Organisation


def certified_identities(org: Organisation, count: int) -> list[CertifiedSigningKey]:
    """``org.covernode_identity`` and ``count - 1`` more, all certified when it was, each
    taking its turn two weeks after the one before."""
    first = org.covernode_identity
    identities = [first]
    for turn in range(1, count):
        starts_at = first.created_at + turn * COVERNODE_ID_KEY_ROTATE_AFTER
        identities.append(
            generate_signing_key(
                KeyRole.COVERNODE_ID,
                org.covernode_provisioning,
                first.created_at,
                starts_at=starts_at,
            )
        )
    return identities


def write_covernode_folder(
    folder: Path, org: Organisation, count: int = DEFAULT_IDENTITIES
) -> Path:
    """Write provisioning-<stamp>.pub.json and ``count`` identity-<stamp>.json files (see
    :func:`certified_identities`) into ``folder``; returns it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    provisioning = org.covernode_provisioning.published
    write_public_json(
        folder / f"provisioning-{stamp(org.covernode_provisioning.created_at, provisioning.key)}"
        ".pub.json",
        provisioning.to_json(),
    )
    for identity in certified_identities(org, count):
        write_private_json(
            folder / f"identity-{stamp(identity.created_at, identity.published.key)}.json",
            certified_key_to_json(identity),
        )
    return folder
