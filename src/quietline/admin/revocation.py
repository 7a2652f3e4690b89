"""Revoking keys: a recipient's, a seized mixer's, or any one key, by the organisation key.

The keys of a seized mixer are :func:`quietline.admin.covernode.mixer_keys`.
Revocations are kept in the deployment folder (``revocations.json``, public) and uploaded
by ``quietline admin publish``; every Quietline client, desk, mixer and edge that sees one
refuses the key and everything below it from then on, and the edge stops serving them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from quietline.admin.layout import Layout
from quietline.keystore import read_bundle, read_file, read_signing_key, write_public_json
from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import QuietlineError
from quietline.protocol.jsonvalues import require_list
from quietline.protocol.roles import Revocation


class NothingToRevoke(QuietlineError):
    """The keys asked for are unknown, or already revoked."""


def revocations(layout: Layout) -> list[Revocation]:
    """Every revocation made so far (none before the first)."""
    if not layout.revocations.exists():
        return []

    def parse(obj: object) -> list[Revocation]:
        return [Revocation.from_json(item) for item in require_list(obj, "revocations")]

    return read_file(layout.revocations, parse)


def recipient_keys(layout: Layout, recipient_id: str) -> list[bytes]:
    """The identity key of a recipient (revoking it revokes its messaging keys too)."""
    path = layout.bundle(recipient_id)
    if not path.exists():
        raise NothingToRevoke(f"no recipient {recipient_id!r} is enrolled ({path})")
    return [read_bundle(path).identity.published.key]


def revoke(
    layout: Layout, now: datetime, keys: Sequence[bytes], report: Callable[[str], None]
) -> list[Revocation]:
    """Revoke ``keys`` as of ``now`` with the organisation key and keep the revocations
    for ``publish``; returns the new ones. Raises NothingToRevoke when every key is
    already revoked (or none is given)."""
    known = {revocation.key for revocation in revocations(layout)}
    fresh = [key for key in dict.fromkeys(keys) if key not in known]
    if not fresh:
        raise NothingToRevoke("nothing to revoke: no key given, or all already revoked")
    organization = read_signing_key(layout.organization, KeyRole.ORGANIZATION)
    made = [Revocation.sign(organization.pair, key, now) for key in fresh]
    write_public_json(layout.revocations, [r.to_json() for r in [*revocations(layout), *made]])
    for revocation in made:
        report(f"revoked key {revocation.key[:8].hex()}…: publish to tell the edge and clients")
    return made
