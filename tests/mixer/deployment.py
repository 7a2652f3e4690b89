"""A real edge (the Starlette app under uvicorn in a thread) and an organisation around it.

:func:`serve_edge` runs ``quietline.edge.app.create_app`` over an ``EdgeStore`` in a
temporary folder on a free loopback port. :class:`Organisation` holds a key hierarchy
made with ``quietline.protocol.keygen``, writes the CoverNode's key folder as the admin
does, and publishes one recipient ("desk": its keys and a signed profile) to the edge
with ``EdgeClient``. Sources and the desk then talk to the edge exactly as the real
clients do.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quietline.clock import Clock
from quietline.edge.app import create_app
from quietline.edge.store import EdgeStore
from quietline.edge_client import EdgeClient
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import (
    DeadDrop,
    DeadDropKind,
    JournalistTrialDecryptor,
    UserTrialDecryptor,
)
from quietline.protocol.encoding import b64_encode
from quietline.protocol.forms import sign_form
from quietline.protocol.hierarchy import JournalistProfile, VerifiedKeys, verify_published_keys
from quietline.protocol.keygen import (
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_signing_key,
)
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.messages import (
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    text_reply,
)
from tests.mixer.keyfolder import Hierarchy, make_hierarchy, write_covernode_folder

RECIPIENT = "desk"
STARTUP_DEADLINE = 10.0


# The routes only the mixer writes to: where a slow network widens the crash windows.
MIXER_WRITES = ("/v1/covernode/queue", "/v1/user/dead-drops", "/v1/journalist/dead-drops")


def with_latency(app: ASGIApp, seconds: float) -> ASGIApp:
    """``app`` behind a slow network for the mixer's POSTs: ``seconds`` before the edge
    handles the request and ``seconds`` again before the answer leaves, so a process
    killed meanwhile has either not been heard or not heard back."""

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in MIXER_WRITES
        ):
            await app(scope, receive, send)
            return

        async def late_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await asyncio.sleep(seconds)
            await send(message)

        await asyncio.sleep(seconds)
        await app(scope, receive, late_send)

    return slow


@contextmanager
def serve_edge(
    store: EdgeStore, hierarchy: Hierarchy, clock: Clock, latency: float = 0.0
) -> Iterator[str]:
    """Serve the real edge app on a free loopback port; yields its base URL."""
    app = with_latency(create_app(store, [hierarchy.organization.published], clock), latency)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, access_log=False, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_DEADLINE
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the edge did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_DEADLINE)


@dataclass
class Organisation:
    """Every secret of a test deployment, and the clients that act on the edge."""

    hierarchy: Hierarchy
    covernode_keys: Path
    journalist_identity: CertifiedSigningKey
    journalist_messaging: CertifiedEncryptionKey

    @classmethod
    def create(cls, folder: Path, now: datetime) -> Organisation:
        hierarchy = make_hierarchy(now)
        identity = generate_signing_key(
            KeyRole.JOURNALIST_ID, hierarchy.journalist_provisioning, now
        )
        return cls(
            hierarchy,
            write_covernode_folder(folder, hierarchy),
            identity,
            generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, now),
        )

    def publish_recipient(self, edge: EdgeClient, now: datetime) -> None:
        """Publish the journalist branch and the desk's profile, as the admin does."""
        h = self.hierarchy
        edge.publish_key(
            KeyRole.JOURNALIST_PROVISIONING,
            None,
            h.organization.published.key,
            h.journalist_provisioning.published,
        )
        edge.publish_key(
            KeyRole.JOURNALIST_ID,
            RECIPIENT,
            h.journalist_provisioning.published.key,
            self.journalist_identity.published,
        )
        edge.publish_key(
            KeyRole.JOURNALIST_MSG,
            RECIPIENT,
            self.journalist_identity.published.key,
            self.journalist_messaging.published,
        )
        profile = JournalistProfile.create(RECIPIENT, "The Desk", "a shared desk", is_desk=True)
        edge.publish_profile(
            sign_form(
                {"profile": profile.to_json(), "default": True}, h.journalist_provisioning.pair, now
            )
        )

    def verified(self, edge: EdgeClient, now: datetime) -> VerifiedKeys:
        published = edge.public_keys()
        return verify_published_keys(
            published, [self.hierarchy.organization.published], now
        ).verified

    # --- what sources and the desk do -----------------------------------------------------

    def send_real(
        self, edge: EdgeClient, keys: VerifiedKeys, text: str, recipient: str = RECIPIENT
    ) -> EncryptionKeyPair:
        """Send one real U2C to ``recipient`` (sealed to the desk's key whatever the tag);
        returns the source's reply key pair."""
        source = EncryptionKeyPair.generate()
        edge.send_u2c(
            encrypt_u2c(
                keys.covernode_wrapping_keys(),
                recipient_id=recipient,
                recipient_key=keys.journalist_messaging_key(RECIPIENT),
                reply_key=source.public,
                text=text,
            )
        )
        return source

    @staticmethod
    def send_cover(edge: EdgeClient, keys: VerifiedKeys, count: int) -> None:
        for _ in range(count):
            edge.send_u2c(encrypt_cover_u2c(keys.covernode_wrapping_keys()))

    def reply(
        self,
        edge: EdgeClient,
        keys: VerifiedKeys,
        source: EncryptionKeyPair,
        text: str,
        now: datetime,
    ) -> None:
        """The desk's real J2C reply to ``source``."""
        j2c = encrypt_j2c(
            keys.covernode_wrapping_keys(),
            self.journalist_messaging.pair,
            source.public,
            text_reply(text),
        )
        edge.send_j2c(
            sign_form({"message": b64_encode(j2c.data)}, self.journalist_identity.pair, now)
        )

    def desk_reads(self, edge: EdgeClient, keys: VerifiedKeys) -> tuple[list[DeadDrop], list[str]]:
        """Every journalist dead drop (each signature checked) and the texts the desk finds."""
        dead_drops = all_dead_drops(edge, DeadDropKind.JOURNALIST)
        covernode_keys = [
            key.encryption_key()
            for keys_of_node in keys.of_role(KeyRole.COVERNODE_MSG).values()
            for key in keys_of_node
        ]
        desk = JournalistTrialDecryptor([self.journalist_messaging.pair], covernode_keys)
        texts = []
        for dead_drop in dead_drops:
            dead_drop.body.verify(keys)
            texts += [received.message.text.text() for received in desk.open(dead_drop)]
        return dead_drops, texts


def user_reads(edge: EdgeClient, keys: VerifiedKeys, source: EncryptionKeyPair) -> list[str]:
    """The replies ``source`` finds in every user dead drop (each signature checked)."""
    reader = UserTrialDecryptor(source, keys)
    texts = []
    for dead_drop in all_dead_drops(edge, DeadDropKind.USER):
        dead_drop.body.verify(keys)
        texts += [reply.message.body.text() for reply in reader.open(dead_drop)]
    return texts


def all_dead_drops(edge: EdgeClient, kind: DeadDropKind) -> list[DeadDrop]:
    """Every stored dead drop of ``kind``, following the edge's pages."""
    found: list[DeadDrop] = []
    while True:
        page = edge.dead_drops(kind, found[-1].id if found else 0)
        if not page:
            return found
        found += page
