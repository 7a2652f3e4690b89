"""A CoverNode key folder as ``quietline admin init`` leaves it, written in code for tests:
the CoverNode's part of a ``tests.support.organisation.Organisation`` (provisioning.json and
one identity-*.json). The messaging keys are the mixer's own to make."""

from __future__ import annotations

from pathlib import Path

from quietline.keystore import certified_key_to_json, write_private_json
from tests.support.organisation import Organisation


def write_covernode_folder(folder: Path, org: Organisation) -> Path:
    """Write provisioning.json and identity-<stamp>.json into ``folder``; returns it."""
    write_private_json(
        folder / "provisioning.json", certified_key_to_json(org.covernode_provisioning)
    )
    identity = org.covernode_identity
    write_private_json(
        folder / f"identity-{identity.created_at.strftime('%Y%m%dT%H%M%S%fZ')}.json",
        certified_key_to_json(identity),
    )
    return folder
