"""What the desk's pages show, made from the desk's state (pure: no I/O, time passed in).

Times are shown to the hour, as the desk keeps them (:func:`quietline.desk.state.coarse`).
No key is ever shown: sources by their pseudonym, the organisation by a digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from quietline.desk.report import DeskReport
from quietline.desk.state import Conversation, DeskState, Flow, MessageKind, UnknownSource, coarse
from quietline.desk.web.pseudonyms import Pseudonym, pseudonym
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.keygen import ROTATE_AFTER
from quietline.protocol.keys import human_digest

# Warn this long before a key expires (an identity key is the admin's to renew).
EXPIRY_WARNING = timedelta(days=14)


def hour(at: datetime) -> str:
    """How a time is shown: to the hour, in UTC."""
    return coarse(at).strftime("%Y-%m-%d %H:00 UTC")


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One source in the inbox."""

    name: Pseudonym
    alias: str
    recipient_id: str
    unread: int
    muted: bool
    handed_over_to: str | None
    queued: int
    last: str


def inbox(state: DeskState, recipient_id: str | None = None) -> list[SourceRow]:
    """The sources, newest activity first, all or only those with ``recipient_id``."""
    queued = set(state.outbox)
    chosen = [
        c
        for c in state.conversations.values()
        if recipient_id is None or c.recipient_id == recipient_id
    ]
    chosen.sort(key=lambda c: c.latest, reverse=True)
    return [
        SourceRow(
            name=pseudonym(state.pseudonym_key, c.reply_key),
            alias=c.alias,
            recipient_id=c.recipient_id,
            unread=0 if c.muted else c.unread,
            muted=c.muted,
            handed_over_to=c.handed_over_to,
            queued=sum(m.id in queued for m in c.messages),
            last=hour(max(m.at for m in c.messages)) if c.messages else "",
        )
        for c in chosen
    ]


def find(state: DeskState, ref: str) -> Conversation:
    """The conversation whose pseudonym's ``ref`` is ``ref``; raises UnknownSource."""
    for conversation in state.conversations.values():
        if pseudonym(state.pseudonym_key, conversation.reply_key).ref == ref:
            return conversation
    raise UnknownSource("no such source on this desk")


def unread_total(state: DeskState) -> int:
    """Unread messages from sources that are not muted: what a notification counts."""
    return sum(c.unread for c in state.conversations.values() if not c.muted)


@dataclass(frozen=True, slots=True)
class ThreadLine:
    """One message of a thread, as shown."""

    incoming: bool
    recipient_id: str
    text: str
    when: str
    handover: bool
    status: str  # "", "queued", "sent" or "never sent"
    unread: bool


def thread(state: DeskState, conversation: Conversation) -> list[ThreadLine]:
    """The conversation's messages in the order the source wrote them and replies went."""
    queued = set(state.outbox)
    lines = []
    for message in sorted(conversation.messages, key=lambda m: m.id):
        incoming = message.direction is Flow.IN
        if incoming:
            status = ""
        elif message.id in queued:
            status = "queued"
        else:
            status = "sent" if message.sent_at is not None else "never sent"
        lines.append(
            ThreadLine(
                incoming=incoming,
                recipient_id=message.recipient_id,
                text=message.text,
                when=hour(message.at),
                handover=message.kind is MessageKind.HANDOVER,
                status=status,
                unread=incoming and message.id > conversation.read_up_to,
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One recipient's keys as the status page shows them."""

    recipient_id: str
    display_name: str
    identity_expires: str
    messaging_expires: str
    next_rotation: str


@dataclass(frozen=True, slots=True)
class Status:
    keys: list[KeyStatus]
    organisation_digests: list[str]
    last_dead_drop: str
    unsent_replies: int
    last_step: str
    kept: str
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def status(
    state: DeskState,
    report: DeskReport | None,
    anchors: Sequence[SignedKey],
    now: datetime,
    keep_messages: timedelta | None = None,
) -> Status:
    """The desk's health: keys, what it read and sends, and what needs someone's attention."""
    warnings: list[str] = []
    keys = []
    rotate_after = ROTATE_AFTER[KeyRole.JOURNALIST_MSG]
    for recipient in state.recipients:
        identity_end = recipient.identity.not_valid_after
        newest = recipient.newest_messaging()
        if identity_end < now:
            warnings.append(
                f"The identity key of {recipient.id} has expired: nothing can be sent as it "
                "(ask the admin for a renewed bundle)."
            )
        elif identity_end - now < EXPIRY_WARNING:
            warnings.append(
                f"The identity key of {recipient.id} expires on {hour(identity_end)} "
                "(ask the admin for a renewed bundle before then)."
            )
        if newest is None or newest.not_valid_after < now:
            warnings.append(f"{recipient.id} has no messaging key in force: sources cannot write.")
        keys.append(
            KeyStatus(
                recipient.id,
                recipient.profile.display_name,
                hour(identity_end),
                "none" if newest is None else hour(newest.not_valid_after),
                "at the next step" if newest is None else hour(newest.created_at + rotate_after),
            )
        )
    if report is None:
        last_step = "not yet: the desk's loop starts at the first unlock"
    else:
        last_step = hour(report.at) if report.at < now - timedelta(hours=1) else "this hour"
        if not report.edge_reached:
            warnings.append(
                "The edge could not be reached at the last step: nothing was read or sent "
                "(the desk tries again every period)."
            )
    if not anchors:
        warnings.append("No organisation key is pinned.")
    return Status(
        keys=keys,
        organisation_digests=[human_digest(anchor.signing_key()) for anchor in anchors],
        last_dead_drop=(
            "none yet" if state.last_dead_drop_at is None else hour(state.last_dead_drop_at)
        ),
        unsent_replies=len(state.outbox),
        last_step=last_step,
        kept=(
            "until the vault is deleted (no keep_messages_days in [desk])"
            if keep_messages is None
            else f"{keep_messages.days} days, then deleted (replies waiting to leave excepted)"
        ),
        warnings=warnings,
        notes=[] if report is None else _named(state, report.notes),
    )


def _named(state: DeskState, notes: list[str]) -> list[str]:
    """``notes`` with each source's short id (a piece of its key) replaced by its name."""
    names = {
        c.short_id: pseudonym(state.pseudonym_key, c.reply_key).name
        for c in state.conversations.values()
    }
    named = []
    for note in notes:
        shown = note
        for short_id, name in names.items():
            shown = shown.replace(short_id, name)
        named.append(shown)
    return named
