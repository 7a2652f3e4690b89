"""The desk's own keys: daily rotation of messaging keys, forgetting old ones, choosing
the key a reply comes from, and the trial decryptors for each recipient."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from quietline.desk.state import MESSAGING_KEY_GRACE, DeskState, Recipient
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import JournalistTrialDecryptor
from quietline.protocol.errors import MisuseError
from quietline.protocol.keygen import generate_messaging_key, rotation_due
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.verification import VerifiedKeys


def rotate_messaging_keys(state: DeskState, now: datetime, problems: Callable[[str], None]) -> int:
    """Give every recipient whose newest messaging key is a day old (or who has none) a
    new one signed by its identity key; returns how many were made."""
    made = 0
    for recipient in list(state.recipients):
        newest = recipient.newest_messaging()
        created = None if newest is None else newest.created_at
        if not rotation_due(KeyRole.JOURNALIST_MSG, created, now):
            continue
        try:
            key = generate_messaging_key(KeyRole.JOURNALIST_MSG, recipient.identity, now)
        except MisuseError as error:
            problems(
                f"cannot rotate the messaging key of {recipient.id}: {error} "
                "(import a renewed bundle with `quietline desk add-recipient`)"
            )
            continue
        state.replace_recipient(
            Recipient(recipient.profile, recipient.identity, (*recipient.messaging, key))
        )
        made += 1
    return made


def reply_pair(recipient: Recipient, keys: VerifiedKeys, now: datetime) -> EncryptionKeyPair | None:
    """The newest messaging key sources can see (published and verified), else the newest
    unexpired one."""
    listed = {k.key for k in keys.of_role(KeyRole.JOURNALIST_MSG).get(recipient.id, ())}
    usable = [k for k in recipient.messaging if now <= k.not_valid_after]
    seen = [k for k in usable if k.published.key in listed]
    chosen = max(seen or usable, key=lambda k: k.created_at, default=None)
    return None if chosen is None else chosen.pair


def trial_decryptors(
    state: DeskState, keys: VerifiedKeys
) -> list[tuple[str, JournalistTrialDecryptor]]:
    covernode_keys = [
        key.encryption_key()
        for owned in keys.of_role(KeyRole.COVERNODE_MSG).values()
        for key in owned
    ]
    return [
        (
            recipient.id,
            JournalistTrialDecryptor([k.pair for k in recipient.messaging], covernode_keys),
        )
        for recipient in state.recipients
        if recipient.messaging
    ]


def forget_old_keys(state: DeskState, now: datetime) -> None:
    """Drop messaging keys a week past their expiry: nothing sealed to them can still come."""
    for recipient in list(state.recipients):
        kept = tuple(
            k for k in recipient.messaging if now <= k.not_valid_after + MESSAGING_KEY_GRACE
        )
        if len(kept) != len(recipient.messaging):
            state.replace_recipient(Recipient(recipient.profile, recipient.identity, kept))
