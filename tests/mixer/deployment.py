"""A real edge (the Starlette app on loopback) for the mixer, and the sources and desk
around it.

:func:`serve_edge` runs ``quietline.edge.app.create_app`` over an ``EdgeStore``, optionally
behind a slow network. The organisation is ``tests.support.organisation.Organisation`` with
one recipient, the desk (published with ``covernode=False``: the CoverNode's keys are the
mixer's to publish); the functions below act as its sources and its desk, talking to the
edge exactly as the real clients do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quietline.clock import Clock
from quietline.edge.app import create_app
from quietline.edge.queues import SubmissionQueues
from quietline.edge.store import EdgeStore
from quietline.edge_client import EdgeClient, EdgeUnavailable
from quietline.protocol.api import J2CSubmission, Route
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    UserTrialDecryptor,
)
from quietline.protocol.forms import sign_form
from quietline.protocol.keys import EncryptionKeyPair, ReplyKey
from quietline.protocol.messages import (
    EncryptedU2C,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    text_reply,
)
from quietline.protocol.recipients import RecipientId
from quietline.protocol.verification import VerifiedKeys
from tests.support.edge_server import serve
from tests.support.organisation import Organisation

RECIPIENT = RecipientId("desk")
RETRY_DEADLINE_S = 30.0


# The routes only the mixer writes to: where a slow network widens the crash windows.
MIXER_WRITES = (Route.COVERNODE_QUEUE, Route.USER_DEAD_DROPS, Route.JOURNALIST_DEAD_DROPS)


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
    store: EdgeStore,
    queues: SubmissionQueues,
    org: Organisation,
    clock: Clock,
    latency: float = 0.0,
) -> Iterator[str]:
    """Serve the real edge app over ``store`` and ``queues`` (closed when it stops),
    behind :func:`with_latency`, on a free loopback port; yields its base URL."""
    app = create_app(store, [org.anchor], clock, queues=queues)
    with serve(with_latency(app, latency), queues=queues) as url:
        yield url


# --- what sources and the desk do ---------------------------------------------------------


def send_real(
    edge: EdgeClient, keys: VerifiedKeys, text: str, recipient: str = RECIPIENT
) -> EncryptionKeyPair:
    """Send one real U2C to ``recipient`` (sealed to the desk's key whatever the tag);
    returns the source's reply key pair."""
    source = EncryptionKeyPair.generate()
    send_until_taken(
        edge,
        encrypt_u2c(
            keys.covernode_wrapping_keys(),
            recipient_id=recipient,
            recipient_key=keys.journalist_messaging_key(RECIPIENT),
            reply_key=ReplyKey.of(source),
            text=text,
        ),
    )
    return source


def send_cover(edge: EdgeClient, keys: VerifiedKeys, count: int) -> None:
    for _ in range(count):
        send_until_taken(edge, encrypt_cover_u2c(keys.covernode_wrapping_keys()))


def send_until_taken(edge: EdgeClient, message: EncryptedU2C) -> None:
    """Send ``message`` until the edge takes it, the same bytes again after a 503 (its
    queue restarting), as a client keeps a message it could not send."""
    deadline = time.monotonic() + RETRY_DEADLINE_S
    while True:
        try:
            edge.send_u2c(message)
            return
        except EdgeUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def reply(
    org: Organisation,
    edge: EdgeClient,
    keys: VerifiedKeys,
    source: EncryptionKeyPair,
    text: str,
    now: datetime,
) -> None:
    """The desk's real J2C reply to ``source``."""
    desk = org.recipients[RECIPIENT]
    j2c = encrypt_j2c(
        keys.covernode_wrapping_keys(), desk.messaging.pair, ReplyKey.of(source), text_reply(text)
    )
    edge.send_j2c(sign_form(J2CSubmission(j2c).to_json(), desk.identity.pair, now))


def desk_reads(
    org: Organisation, edge: EdgeClient, keys: VerifiedKeys
) -> tuple[list[DeadDrop[JournalistDeadDrop]], list[str]]:
    """Every journalist dead drop (each signature checked) and the texts the desk finds."""
    dead_drops = all_dead_drops(edge, JournalistDeadDrop)
    desk = JournalistTrialDecryptor(
        [org.recipients[RECIPIENT].messaging.pair], keys.covernode_messaging_keys()
    )
    texts = []
    for dead_drop in dead_drops:
        dead_drop.body.verify(keys)
        texts += [received.message.text.text() for received in desk.open(dead_drop)]
    return dead_drops, texts


def user_reads(edge: EdgeClient, keys: VerifiedKeys, source: EncryptionKeyPair) -> list[str]:
    """The replies ``source`` finds in every user dead drop (each signature checked)."""
    reader = UserTrialDecryptor(source, keys)
    texts = []
    for dead_drop in all_dead_drops(edge, UserDeadDrop):
        dead_drop.body.verify(keys)
        texts += [reply.message.body.text() for reply in reader.open(dead_drop)]
    return texts


def all_dead_drops(edge: EdgeClient, body_type: type[B]) -> list[DeadDrop[B]]:
    """Every stored dead drop of ``body_type``, following the edge's pages."""
    found: list[DeadDrop[B]] = []
    while True:
        page = edge.dead_drops(body_type, found[-1].id if found else 0)
        if not page:
            return found
        found += page
