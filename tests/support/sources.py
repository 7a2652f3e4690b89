"""A person using an in-process source client: the first message starts the vault (and
keeps the passphrase it shows), later ones use that passphrase."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from quietline.client import SourceClient, SourceEdge, SourceStorage
from quietline.client.schedule import Schedule
from quietline.protocol.certificates import SignedKey
from quietline.vault import INTERACTIVE

# Small vaults and a light key derivation: quick to seal and re-randomise at every send.
TEST_VAULT_BLOCKS = 48


def small_client(
    edge: SourceEdge, anchors: list[SignedKey], folder: Path, sends: Schedule, downloads: Schedule
) -> SourceClient:
    """A source client with a small vault and a light key derivation."""
    return SourceClient(
        edge,
        anchors,
        SourceStorage(folder, vault_blocks=TEST_VAULT_BLOCKS),
        send_schedule=sends,
        download_schedule=downloads,
        kdf_cost=INTERACTIVE,
    )


@dataclass
class SourceUser:
    client: SourceClient
    passphrase: str | None = None

    def write(self, recipient_id: str, text: str, now: datetime) -> str:
        """Queue ``text``; returns whom it reaches."""
        if self.passphrase is None:
            self.passphrase, queued = self.client.begin(recipient_id, text, now=now)
        else:
            queued = self.client.send(self.passphrase, recipient_id, text, now=now)
        return queued.recipient_id

    def replies(self, now: datetime) -> list[str]:
        if self.passphrase is None:
            return []
        return [reply.text for reply in self.client.inbox(self.passphrase, now)]
