"""A real edge on loopback, and what the admin, sources and the mixer do around a desk.

The organisation is ``tests.support.organisation.Organisation``; here it is published as
the admin does for a desk (recipients' messaging keys are the desk's to publish) and
enrolled into desk bundles. A source's messages are sealed and forwarded here as the mixer
would, into a journalist dead drop the CoverNode identity signs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from quietline.clock import Clock, FixedClock
from quietline.desk.service import Desk
from quietline.desk.state import DeskState, recipient_from_bundle
from quietline.desk.store import DeskStore
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.keystore import Bundle
from quietline.protocol.api import Direction, KeySubmission, Route
from quietline.protocol.boxes import AnonymousBox
from quietline.protocol.certificates import KeyRole
from quietline.protocol.keygen import CertifiedEncryptionKey, generate_messaging_key
from quietline.protocol.keys import (
    EncryptionKeyPair,
    JournalistMessagingKey,
    PublicEncryptionKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    U2J,
    EncryptedJ2C,
    EncryptedU2J,
    J2UMessage,
    U2JMessage,
    filler_c2j,
    forward_to_journalist,
    parse_j2c,
)
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.recipients import RecipientId
from quietline.vault import INTERACTIVE
from tests.support.edge_server import serve
from tests.support.organisation import COVERNODE_ID, Organisation
from tests.support.queues import queues_beside

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PERIOD = timedelta(minutes=1)
PASSPHRASE = "desk passphrase"


def bundle_for(org: Organisation, recipient_id: str, now: datetime) -> Bundle:
    """What ``admin enroll`` gives the desk: the recipient's profile and identity key, and a
    messaging key certified at ``now`` (a fresh one each time)."""
    recipient = org.recipients[RecipientId(recipient_id)]
    messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, recipient.identity, now)
    return Bundle(recipient.profile, recipient.identity, messaging, default=False)


def publish_covernode_messaging(
    org: Organisation, edge: EdgeClient, key: CertifiedEncryptionKey
) -> int:
    """Publish ``key`` as the CoverNode's new messaging key, as the mixer does when it
    rotates; returns its epoch."""
    return edge.publish_key(
        KeySubmission(
            KeyRole.COVERNODE_MSG,
            COVERNODE_ID,
            org.covernode_identity.published.key,
            key.published,
        )
    )


def drop_message(
    org: Organisation,
    edge: EdgeClient,
    now: datetime,
    recipient_key: JournalistMessagingKey,
    sealed: EncryptedU2J,
    *,
    epoch: int,
    covernode_key: CertifiedEncryptionKey | None = None,
    fillers: int = 3,
) -> int:
    """Publish a journalist dead drop holding ``sealed`` for the holder of
    ``recipient_key`` among fillers, as the mixer would; returns its id."""
    covernode = covernode_key or org.covernode_messaging
    real = forward_to_journalist(covernode.pair, recipient_key, sealed)
    entries = [filler_c2j() for _ in range(fillers)]
    entries.insert(1, real)
    return edge.publish_dead_drop(org.sign_journalist_dead_drop(entries, now, epoch))


def seal_message(
    recipient_key: JournalistMessagingKey, source: EncryptionKeyPair, text: str
) -> EncryptedU2J:
    """What a source writes: its reply key and ``text``, sealed to the recipient."""
    message = U2JMessage(ReplyKey.of(source), PaddedCompressedString.from_text(text))
    return AnonymousBox.seal(U2J, recipient_key, message)


def sent_j2c(store: EdgeStore) -> list[EncryptedJ2C]:
    """Every J2C queued at the edge, oldest first (read without acknowledging any)."""
    with queues_beside(store) as queues:
        return [parse_j2c(data) for _, data in queues.pull(Direction.JOURNALIST, 0, 1000, 0)]


def open_j2c(
    org: Organisation, j2c: EncryptedJ2C, source: EncryptionKeyPair, sender: PublicEncryptionKey
) -> tuple[bool, J2UMessage | None]:
    """Open a queued J2C as the CoverNode, then its J2U as the source (None when cover)."""
    opened = j2c.open(org.covernode_messaging.pair)
    if not opened.is_real:
        return False, None
    return True, opened.payload.open(source, sender)


@contextmanager
def real_edge(folder: Path, org: Organisation, clock: Clock) -> Iterator[tuple[str, EdgeStore]]:
    """A real edge app over a SQLite store in ``folder``, served on loopback."""
    store = EdgeStore(folder / "edge.sqlite3")
    try:
        with (
            queues_beside(store) as queues,
            serve(create_app(store, [org.anchor], clock, queues=queues.engine)) as url,
        ):
            yield url, store
    finally:
        store.close()


def keys_from(keys_app: ASGIApp, main_app: ASGIApp) -> ASGIApp:
    """One address in front of two real edges, as a CDN with a stale copy of the keys
    would be: the published keys are answered by ``keys_app``, the rest by ``main_app``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        target = keys_app if scope.get("path") == Route.PUBLIC_KEYS else main_app
        await target(scope, receive, send)

    return app


@dataclass
class World:
    clock: FixedClock
    org: Organisation
    edge: EdgeClient
    store: EdgeStore
    desk: Desk

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def add(self, recipient_id: str) -> JournalistMessagingKey:
        """Import a recipient into the desk; returns the messaging key it published."""
        recipient = recipient_from_bundle(bundle_for(self.org, recipient_id, self.now))
        problems: list[str] = []
        self.desk.add_recipient(recipient, self.now, problems.append)
        assert problems == []
        return JournalistMessagingKey.of(recipient.messaging[0].pair)

    def write(self, recipient_id: str, source: EncryptionKeyPair, text: str) -> int:
        """A source's message to the recipient's newest published key, in a dead drop."""
        key = self.org.verified(self.edge, self.now).journalist_messaging_key(recipient_id)
        sealed = seal_message(key, source, text)
        return drop_message(
            self.org, self.edge, self.now, key, sealed, epoch=self.store.max_epoch()
        )

    def tick(self) -> None:
        self.clock.advance(PERIOD)


def make_desk(folder: Path, edge: EdgeClient, org: Organisation) -> Desk:
    """A new desk with an empty vault in ``folder``, verifying from ``org``'s anchor."""
    store = DeskStore(folder / "desk.vault", INTERACTIVE)
    store.create(PASSPHRASE, DeskState())
    return Desk(store, edge, [org.anchor], PERIOD)
