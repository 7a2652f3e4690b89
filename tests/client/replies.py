"""Replies to sources as the recipients and the mixer would write them: a J2U sealed to a
source's reply key, and a signed user dead drop holding such entries among filler."""

from __future__ import annotations

from datetime import datetime

from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.deaddrops import UserDeadDrop
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import J2U, EncryptedJ2U, J2UMessage, cover_j2u
from quietline.protocol.recipients import RecipientId
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
