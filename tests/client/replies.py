"""Replies to sources as the recipients and the mixer would write them: a J2U sealed to a
source's reply key, and a signed user dead drop holding such entries among filler; and
the real messages an edge received, opened as the CoverNode would."""

from __future__ import annotations

from datetime import UTC, datetime

from quietline.edge_client import EdgeClient
from quietline.protocol.api import Direction
from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.deaddrops import UserDeadDrop
from quietline.protocol.errors import ProtocolError
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import (
    J2U,
    EncryptedJ2U,
    J2UMessage,
    U2CMessage,
    cover_j2u,
    parse_u2c,
    text_reply,
)
from quietline.protocol.recipients import RecipientId
from tests.client.edge_server import RunningEdge
from tests.support.organisation import Organisation


def reply_entry(
    org: Organisation, recipient_id: str, user_key: ReplyKey, message: J2UMessage
) -> EncryptedJ2U:
    """A user dead-drop entry: the recipient's J2U to the user's reply key."""
    sender = org.recipients[RecipientId(recipient_id)].messaging.pair
    return TwoPartyBox.seal(J2U, sender, user_key, message)


def user_dead_drop(
    org: Organisation, entries: list[EncryptedJ2U], created_at: datetime, size: int = 8
) -> UserDeadDrop:
    """A user dead drop holding ``entries`` padded with filler to ``size``, signed by the
    organisation's CoverNode identity key."""
    padded = entries + [cover_j2u() for _ in range(size - len(entries))]
    return org.sign_user_dead_drop(padded, created_at)


def real_messages(edge: RunningEdge, org: Organisation) -> list[U2CMessage]:
    """The real (not cover) messages the edge holds, opened with the CoverNode's key."""
    real = []
    for _, data in edge.queues.pull(Direction.USER, 0, 10_000, 0):
        try:
            u2c = parse_u2c(data).open(org.covernode_messaging.pair)
        except ProtocolError:
            continue
        if not u2c.tag.is_cover:
            real.append(u2c)
    return real


def reply_to_the_message(
    edge: RunningEdge, org: Organisation, expected: str, reply: str, recipient_id: str
) -> None:
    """As ``recipient_id`` would: read the one real message the edge holds (checking it
    says ``expected``) and publish ``reply`` to its reply key in a user dead drop."""
    (real,) = real_messages(edge, org)
    u2j = real.payload.open(org.recipients[RecipientId(recipient_id)].messaging.pair)
    assert u2j.text.text() == expected
    entry = reply_entry(org, recipient_id, u2j.reply_key, text_reply(reply))
    with EdgeClient(edge.url) as publisher:
        publisher.publish_dead_drop(user_dead_drop(org, [entry], datetime.now(UTC)))
