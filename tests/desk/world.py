"""A real edge served by uvicorn in a thread, and an organisation published to it.

The organisation is made with the real key generation: a root key, both provisioning
keys, one CoverNode (identity and messaging keys) and recipients with identity keys and
profiles. Recipients' messaging keys are the desk's to publish; a source's messages are
sealed and forwarded here as the mixer would, into a journalist dead drop the CoverNode
identity signs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from quietline.admin.ceremony import Bundle
from quietline.clock import Clock
from quietline.edge import EdgeStore, create_app
from quietline.edge.store import Direction
from quietline.edge_client import EdgeClient
from quietline.processes import free_port
from quietline.protocol.boxes import AnonymousBox
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import DeadDropKind, sign_dead_drop
from quietline.protocol.forms import sign_form
from quietline.protocol.hierarchy import JournalistProfile, VerifiedKeys, verify_published_keys
from quietline.protocol.keygen import (
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.keys import EncryptionKeyPair, PublicEncryptionKey
from quietline.protocol.messages import (
    U2J,
    EncryptedU2J,
    J2UMessage,
    U2JMessage,
    filler_c2j,
    forward_to_journalist,
    parse_j2c,
)
from quietline.protocol.pcs import PaddedCompressedString

COVERNODE_ID = "covernode_001"
SERVER_START_DEADLINE_S = 10.0


@dataclass
class Organisation:
    """An organisation's keys, with the secret halves the tests act with."""

    root: CertifiedSigningKey
    covernode_provisioning: CertifiedSigningKey
    journalist_provisioning: CertifiedSigningKey
    covernode_identity: CertifiedSigningKey
    covernode_messaging: CertifiedEncryptionKey
    identities: dict[str, CertifiedSigningKey] = field(default_factory=dict)

    @classmethod
    def create(cls, now: datetime, recipient_ids: tuple[str, ...]) -> Organisation:
        root = generate_organization_key(now)
        cn_prov = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, root, now)
        j_prov = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, root, now)
        cn_id = generate_signing_key(KeyRole.COVERNODE_ID, cn_prov, now)
        cn_msg = generate_messaging_key(KeyRole.COVERNODE_MSG, cn_id, now)
        org = cls(root, cn_prov, j_prov, cn_id, cn_msg)
        for recipient_id in recipient_ids:
            org.identities[recipient_id] = generate_signing_key(KeyRole.JOURNALIST_ID, j_prov, now)
        return org

    @property
    def anchor(self) -> SignedKey:
        return self.root.published

    def bundle(self, recipient_id: str, now: datetime) -> Bundle:
        """What ``admin enroll`` gives the desk: profile, identity and a messaging key."""
        identity = self.identities[recipient_id]
        messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, now)
        profile = JournalistProfile.create(recipient_id, f"Desk {recipient_id}", "", is_desk=True)
        return Bundle(profile, identity, messaging, default=False)

    def publish(
        self, edge: EdgeClient, now: datetime, recipients: tuple[str, ...] | None = None
    ) -> None:
        """What ``admin publish`` uploads: every key but the recipients' messaging keys,
        and a signed profile per recipient (of ``recipients`` only, when given)."""
        org = self.root.published.key
        edge.publish_key(
            KeyRole.COVERNODE_PROVISIONING, None, org, self.covernode_provisioning.published
        )
        edge.publish_key(
            KeyRole.JOURNALIST_PROVISIONING, None, org, self.journalist_provisioning.published
        )
        edge.publish_key(
            KeyRole.COVERNODE_ID,
            COVERNODE_ID,
            self.covernode_provisioning.published.key,
            self.covernode_identity.published,
        )
        self.publish_covernode_messaging(edge, self.covernode_messaging)
        for recipient_id, identity in self.identities.items():
            if recipients is not None and recipient_id not in recipients:
                continue
            edge.publish_key(
                KeyRole.JOURNALIST_ID,
                recipient_id,
                self.journalist_provisioning.published.key,
                identity.published,
            )
            profile = JournalistProfile.create(
                recipient_id, f"Desk {recipient_id}", "", is_desk=True
            )
            form = sign_form(
                {"profile": profile.to_json(), "default": False},
                self.journalist_provisioning.pair,
                now,
            )
            edge.publish_profile(form)

    def publish_covernode_messaging(self, edge: EdgeClient, key: CertifiedEncryptionKey) -> int:
        return edge.publish_key(
            KeyRole.COVERNODE_MSG,
            COVERNODE_ID,
            self.covernode_identity.published.key,
            key.published,
        )

    def verified(self, edge: EdgeClient, now: datetime) -> VerifiedKeys:
        return verify_published_keys(edge.public_keys(), [self.anchor], now).verified

    def drop_message(
        self,
        edge: EdgeClient,
        now: datetime,
        recipient_key: PublicEncryptionKey,
        sealed: EncryptedU2J,
        *,
        epoch: int,
        covernode_key: CertifiedEncryptionKey | None = None,
        fillers: int = 3,
    ) -> int:
        """Publish a journalist dead drop holding ``sealed`` for the holder of
        ``recipient_key`` among fillers, as the mixer would; returns its id."""
        covernode = covernode_key or self.covernode_messaging
        real = forward_to_journalist(covernode.pair, recipient_key, sealed)
        entries = [filler_c2j().data for _ in range(fillers)]
        entries.insert(1, real.data)
        dead_drop = sign_dead_drop(
            DeadDropKind.JOURNALIST,
            entries,
            now,
            epoch,
            identity=self.covernode_identity.pair,
            identity_not_valid_after=self.covernode_identity.not_valid_after,
        )
        return edge.publish_dead_drop(dead_drop)


def seal_message(
    recipient_key: PublicEncryptionKey, source: EncryptionKeyPair, text: str
) -> EncryptedU2J:
    """What a source writes: its reply key and ``text``, sealed to the recipient."""
    message = U2JMessage(source.public, PaddedCompressedString.from_text(text))
    return AnonymousBox.seal(U2J, recipient_key, message)


def sent_j2c(store: EdgeStore) -> list[bytes]:
    """Every J2C queued at the edge, oldest first (read without acknowledging any)."""
    return [data for _, data in store.pull(Direction.JOURNALIST, 0, 1000, 0)]


def open_j2c(
    org: Organisation, raw: bytes, source: EncryptionKeyPair, sender: PublicEncryptionKey
) -> tuple[bool, J2UMessage | None]:
    """Open a queued J2C as the CoverNode, then its J2U as the source (None when cover)."""
    j2c = parse_j2c(raw).open(org.covernode_messaging.pair)
    if not j2c.is_real:
        return False, None
    return True, j2c.payload.open(source, sender)


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    ready = threading.Event()
    for _ in range(int(SERVER_START_DEADLINE_S / 0.05)):
        if server.started:
            ready.set()
            break
        ready.wait(0.05)
    try:
        if not ready.is_set():
            raise RuntimeError("the edge did not start in time")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_DEADLINE_S)


@contextmanager
def real_edge(folder: Path, org: Organisation, clock: Clock) -> Iterator[tuple[str, EdgeStore]]:
    """A real edge app over a SQLite store in ``folder``, served on loopback."""
    store = EdgeStore(folder / "edge.sqlite3")
    try:
        with serve(create_app(store, [org.anchor], clock)) as url:
            yield url, store
    finally:
        store.close()


def keys_from(keys_app: ASGIApp, main_app: ASGIApp) -> ASGIApp:
    """One address in front of two real edges, as a CDN with a stale copy of the keys
    would be: ``GET /v1/public-keys`` is answered by ``keys_app``, the rest by ``main_app``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        target = keys_app if scope.get("path") == "/v1/public-keys" else main_app
        await target(scope, receive, send)

    return app
