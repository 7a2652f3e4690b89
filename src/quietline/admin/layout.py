"""Where each file of a deployment folder lives.

Layout of the folder ``admin init`` creates::

    quietline.toml                     the typed configuration (quietline.config)
    organization.pub.json              the pinned organisation key: give it to clients
    covernode_identities.pub.json      the public halves of the mixer's identity keys
    revocations.json                   every revocation the organisation made (public)
    secrets/organization.json          the organisation root key (keep it offline)
    secrets/covernode_provisioning.json   the provisioning keys (offline, with the root
    secrets/journalist_provisioning.json  key; earlier ones archived beside them)
    secrets/covernode/                 the mixer's key folder, to copy to the mixer:
        provisioning-*.pub.json        the public provisioning keys that certified
        identity-*.json                its identity keys, certified ahead of time
    recipients/<id>.json               one bundle per enrolled recipient, for its desk

Every secret file is written 0600, whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from quietline.config import CONFIG_NAME

ANCHOR_NAME = "organization.pub.json"
COVERNODE_ID = "covernode_001"


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
    def secrets(self) -> Path:
        return self.folder / "secrets"

    @property
    def organization(self) -> Path:
        return self.secrets / "organization.json"

    @property
    def journalist_provisioning(self) -> Path:
        return self.secrets / "journalist_provisioning.json"

    @property
    def covernode_provisioning(self) -> Path:
        return self.secrets / "covernode_provisioning.json"

    @property
    def covernode(self) -> Path:
        """The mixer's key folder (``[mixer] keys`` in the config)."""
        return self.secrets / "covernode"

    @property
    def covernode_identities(self) -> Path:
        return self.folder / "covernode_identities.pub.json"

    @property
    def revocations(self) -> Path:
        return self.folder / "revocations.json"

    @property
    def recipients(self) -> Path:
        return self.folder / "recipients"

    def bundle(self, recipient_id: str) -> Path:
        return self.recipients / f"{recipient_id}.json"


def stamp(moment: datetime) -> str:
    """A file-name part that orders files by ``moment``."""
    return moment.strftime("%Y%m%dT%H%M%S%fZ")
