"""The desk's own keys: messaging keys rotated by the shared plan, the key a reply comes
from, and the trial decryptors for each recipient.

Each recipient rotates under :data:`DESK_ROTATION`: a new messaging key a day (valid two
weeks), signed by its identity key, and an old one forgotten a week after it expires
(dead drops the mixer made just before the expiry may still arrive: a mix can hold a
message for its timeout). The identity key is the admin's to renew.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from quietline.desk.state import DeskState, Recipient
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import JournalistTrialDecryptor
from quietline.protocol.errors import MisuseError
from quietline.protocol.keygen import AnyCertifiedKey, CertifiedEncryptionKey
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.rotation import RotationPolicy, make_keys, plan_rotation
from quietline.protocol.verification import VerifiedKeys

DESK_ROTATION = RotationPolicy((KeyRole.JOURNALIST_MSG,), keep_expired=timedelta(weeks=1))


def rotate_keys(state: DeskState, now: datetime, note: Callable[[str], None]) -> int:
    """Carry out each recipient's rotation plan in ``state`` (a new messaging key when its
    newest is a day old, old ones forgotten); returns how many keys were made."""
    made_count = 0
    for recipient in list(state.recipients):
        held: list[AnyCertifiedKey] = [recipient.identity, *recipient.messaging]
        plan = plan_rotation(held, DESK_ROTATION, now)
        try:
            made = make_keys(plan, held, now)
        except MisuseError as error:
            note(
                f"cannot rotate the messaging key of {recipient.id}: {error} "
                "(import a renewed bundle with `quietline desk add-recipient`)"
            )
            made = []
        kept = tuple(key for key in recipient.messaging if key not in plan.retire)
        new = tuple(key for key in made if isinstance(key, CertifiedEncryptionKey))
        if new or len(kept) != len(recipient.messaging):
            state.replace_recipient(Recipient(recipient.profile, recipient.identity, kept + new))
        made_count += len(new)
    return made_count


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
    covernode_keys = keys.covernode_messaging_keys()
    return [
        (
            recipient.id,
            JournalistTrialDecryptor([k.pair for k in recipient.messaging], covernode_keys),
        )
        for recipient in state.recipients
        if recipient.messaging
    ]
