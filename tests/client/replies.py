"""Replies to sources as the recipients and the mixer would write them: a J2U sealed to a
source's reply key, and a signed user dead drop holding such entries among filler."""

from __future__ import annotations

from datetime import datetime

from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop
from quietline.protocol.keys import PublicEncryptionKey
from quietline.protocol.messages import J2U, J2UMessage, cover_j2u
from tests.support.organisation import Organisation


def reply_entry(
    org: Organisation, recipient_id: str, user_key: PublicEncryptionKey, message: J2UMessage
) -> bytes:
    """A user dead-drop entry: the recipient's J2U to the user's reply key."""
    sender = org.recipients[recipient_id].messaging.pair
    return TwoPartyBox.seal(J2U, sender, user_key, message).data


def user_dead_drop(
    org: Organisation, entries: list[bytes], created_at: datetime, size: int = 8
) -> UnpublishedDeadDrop:
    """A user dead drop holding ``entries`` padded with filler to ``size``, signed by the
    organisation's CoverNode identity key."""
    padded = entries + [cover_j2u().data for _ in range(size - len(entries))]
    return org.sign_dead_drop(DeadDropKind.USER, padded, created_at, None)
