"""The mixer's identity keys, certified by the admin ahead of time.

The CoverNode provisioning key stays offline with the admin: instead of making its own
identity keys, the mixer receives a run of them certified in advance, one for every two
weeks (DESIGN section 3), each in force from its turn until four weeks later. The admin
keeps the public halves (:class:`CertifiedIdentity`) to publish them and, if the mixer is
ever seized, to revoke every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quietline.admin.layout import COVERNODE_ID, Layout
from quietline.admin.revocation import revocations
from quietline.keystore import (
    certified_key_to_json,
    read_file,
    read_signing_key,
    write_private_json,
    write_public_json,
)
from quietline.mixer.keys import IDENTITY_GLOB, stamp
from quietline.protocol.api import KeySubmission
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import COVERNODE_ID_KEY_ROTATE_AFTER
from quietline.protocol.encoding import format_rfc3339, hex_decode, parse_rfc3339
from quietline.protocol.jsonvalues import require_list, require_object
from quietline.protocol.keygen import generate_signing_key
from quietline.protocol.recipients import RecipientId

# Identity keys an ordinary certification covers: eight weeks of turns.
DEFAULT_IDENTITIES = 4


@dataclass(frozen=True, slots=True)
class CertifiedIdentity:
    """The public half of a mixer identity key the admin certified, its turn and the
    provisioning key that certified it."""

    key: SignedKey
    starts_at: datetime
    provisioning: bytes

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now <= self.key.not_valid_after

    def submission(self) -> KeySubmission:
        return KeySubmission(
            KeyRole.COVERNODE_ID, RecipientId(COVERNODE_ID), self.provisioning, self.key
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.to_json(),
            "starts_at": format_rfc3339(self.starts_at),
            "provisioning": self.provisioning.hex(),
        }

    @classmethod
    def from_json(cls, obj: object) -> CertifiedIdentity:
        fields = require_object(obj, "a certified identity")
        return cls(
            SignedKey.from_json(fields.get("key")),
            parse_rfc3339(fields.get("starts_at")),
            hex_decode(fields.get("provisioning"), 32),
        )


def certified_identities(layout: Layout) -> list[CertifiedIdentity]:
    """Every mixer identity key the admin certified, by turn (none before the first)."""
    if not layout.covernode_identities.exists():
        return []

    def parse(obj: object) -> list[CertifiedIdentity]:
        return [CertifiedIdentity.from_json(item) for item in require_list(obj, "identities")]

    return sorted(read_file(layout.covernode_identities, parse), key=lambda i: i.starts_at)


def mixer_keys(layout: Layout, now: datetime) -> list[bytes]:
    """Every mixer identity key the admin certified that has not expired (what a seized
    mixer held, its future turns included)."""
    return [i.key.key for i in certified_identities(layout) if now <= i.key.not_valid_after]


def certify_mixer(
    layout: Layout,
    now: datetime,
    report: Callable[[str], None],
    count: int = DEFAULT_IDENTITIES,
) -> list[CertifiedIdentity]:
    """Certify ``count`` more identity keys for the mixer, taking turns two weeks apart
    after the last one certified and not revoked (or from ``now``: after a seizure the
    fresh run starts at once), into the mixer's key folder, with the public half of the
    provisioning key that certified them.

    Raises KeyUnavailable when the provisioning key has expired (renew it first).
    """
    provisioning = read_signing_key(layout.covernode_provisioning, KeyRole.COVERNODE_PROVISIONING)
    earlier = certified_identities(layout)
    revoked = {revocation.key for revocation in revocations(layout)}
    live = [identity for identity in earlier if identity.key.key not in revoked]
    turn = now
    if live and live[-1].starts_at + COVERNODE_ID_KEY_ROTATE_AFTER > now:
        turn = live[-1].starts_at + COVERNODE_ID_KEY_ROTATE_AFTER
    layout.covernode.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A revoked identity must never reach a mixer again, whichever copy of the folder
    # the operator takes to it.
    for path in layout.covernode.glob(IDENTITY_GLOB):
        if read_signing_key(path, KeyRole.COVERNODE_ID).published.key in revoked:
            path.unlink()
    public = provisioning.published
    write_public_json(
        layout.covernode / f"provisioning-{stamp(provisioning.created_at, public.key)}.pub.json",
        public.to_json(),
    )
    made = []
    for _ in range(count):
        identity = generate_signing_key(KeyRole.COVERNODE_ID, provisioning, now, starts_at=turn)
        write_private_json(
            layout.covernode / f"identity-{stamp(turn, identity.published.key)}.json",
            certified_key_to_json(identity),
        )
        made.append(CertifiedIdentity(identity.published, turn, public.key))
        turn += COVERNODE_ID_KEY_ROTATE_AFTER
    write_public_json(
        layout.covernode_identities, [identity.to_json() for identity in [*earlier, *made]]
    )
    last = made[-1]
    report(
        f"certified {count} identity keys for the mixer, in force in turn until "
        f"{format_rfc3339(last.key.not_valid_after)}: copy {layout.covernode} to the mixer"
    )
    return made
