"""What a desk keeps in its vault: recipients and their keys, conversations, the outbox.

A desk holds one or more recipients (a journalist, a case officer, a shared desk), each
with its profile, identity key and every messaging key that is still useful. A source
is known only by the reply key it sent; its conversation records which recipient it is
with, every message in and out, and whether it was handed over. Replies wait in the
outbox until the desk's next period sends one. Everything here is plain data with a
JSON form; :mod:`quietline.desk.store` keeps it in the vault.

A conversation's messages are kept in the order they reached the desk: dead drops are
read in the order the CoverNode published them, so a source's messages keep the order
it wrote them in across dead drops (a U2J carries no ordering of its own, and within
one dead drop the mixer's shuffle leaves none to keep). Message ids follow that order.
Times are kept coarse, to the hour (:func:`coarse`): a received message carries the hour
of the dead drop it came in (public already), never the moment the desk read it, so a
seized vault cannot be matched against traffic at any finer grain.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import nacl.utils

from quietline.keystore import (
    Bundle,
    certified_key_to_json,
    encryption_key_from_json,
    signing_key_from_json,
)
from quietline.protocol.certificates import KeyRole
from quietline.protocol.encoding import (
    b64_decode,
    b64_encode,
    format_rfc3339,
    hex_decode,
    parse_rfc3339,
)
from quietline.protocol.errors import (
    MalformedInput,
    MisuseError,
    ProtocolError,
    UnknownRecipient,
)
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.jsonvalues import require_object
from quietline.protocol.keygen import CertifiedEncryptionKey, CertifiedSigningKey
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import U2JMessage
from quietline.protocol.recipients import RecipientId

STATE_VERSION = 1
SHORT_ID_LEN = 8
COARSE = timedelta(hours=1)


def coarse(at: datetime) -> datetime:
    """``at`` truncated to the hour: the only precision a message's time is kept at."""
    return at.replace(minute=0, second=0, microsecond=0)


class UnknownSource(MisuseError):
    """No conversation matches the given source id (or more than one does)."""

    default_status = 404


class Flow(enum.Enum):
    """Whether a message came in from a source or goes out to one."""

    IN = "in"
    OUT = "out"


class MessageKind(enum.Enum):
    TEXT = "text"
    HANDOVER = "handover"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient on this desk and its secret keys."""

    profile: JournalistProfile
    identity: CertifiedSigningKey
    messaging: tuple[CertifiedEncryptionKey, ...]

    @property
    def id(self) -> RecipientId:
        return self.profile.id

    def newest_messaging(self) -> CertifiedEncryptionKey | None:
        """The messaging key made last, or None when the recipient has none left."""
        return max(self.messaging, key=lambda k: k.created_at, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile.to_json(),
            "identity": certified_key_to_json(self.identity),
            "messaging": [certified_key_to_json(key) for key in self.messaging],
        }

    @classmethod
    def from_json(cls, obj: object) -> Recipient:
        """Parse a stored recipient (the same shape as an enrolment bundle, with a list of
        messaging keys); raises MalformedInput."""
        fields = require_object(obj, "a recipient")
        messaging = fields.get("messaging")
        if not isinstance(messaging, list):
            raise MalformedInput("a recipient's messaging keys must be a list")
        return cls(
            JournalistProfile.from_json(fields.get("profile")),
            signing_key_from_json(fields.get("identity"), KeyRole.JOURNALIST_ID),
            tuple(encryption_key_from_json(key, KeyRole.JOURNALIST_MSG) for key in messaging),
        )


def recipient_from_bundle(bundle: Bundle) -> Recipient:
    """The recipient in an enrolment bundle written by ``quietline admin enroll``.

    Raises MalformedInput when a key has the wrong role, the messaging key is not
    certified by the identity key, or the profile's tag does not match its id.
    """
    bundle.profile.check_tag()
    # A Bundle made in code skips Bundle.from_json's role checks; a wrong role saved here
    # would leave a vault that Recipient.from_json refuses to load.
    for key, role in (
        (bundle.identity, KeyRole.JOURNALIST_ID),
        (bundle.messaging, KeyRole.JOURNALIST_MSG),
    ):
        if key.role is not role:
            raise MalformedInput(f"the bundle holds a {key.role.value} key, not a {role.value} key")
    messaging = bundle.messaging
    try:
        messaging.published.verify_certificate(bundle.identity.pair.public)
    except ProtocolError as error:
        raise MalformedInput("the messaging key is not certified by the identity key") from error
    return Recipient(bundle.profile, bundle.identity, (messaging,))


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation.

    ``recipient_id`` is whom an incoming message was addressed to, or who sends an
    outgoing one. ``sent_at`` is None while an outgoing message waits in the outbox.
    ``digest`` identifies an incoming message so it is stored once however often it is read.
    """

    id: int
    direction: Flow
    kind: MessageKind
    recipient_id: str
    text: str = field(repr=False)
    at: datetime
    sent_at: datetime | None = None
    digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction.value,
            "kind": self.kind.value,
            "recipient": self.recipient_id,
            "text": self.text,
            "at": format_rfc3339(self.at),
            "sent_at": None if self.sent_at is None else format_rfc3339(self.sent_at),
            "digest": self.digest,
        }

    @classmethod
    def from_json(cls, obj: object) -> Message:
        fields = require_object(obj, "a message")
        sent_at = fields.get("sent_at")
        digest = fields.get("digest")
        try:
            return cls(
                id=int(fields["id"]),
                direction=Flow(fields["direction"]),
                kind=MessageKind(fields["kind"]),
                recipient_id=str(fields["recipient"]),
                text=str(fields["text"]),
                at=parse_rfc3339(fields["at"]),
                sent_at=None if sent_at is None else parse_rfc3339(sent_at),
                digest=None if digest is None else str(digest),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedInput(f"a stored message is malformed: {error}") from None


def message_digest(message: U2JMessage) -> str:
    """What identifies a received message: its padding is random, so equal digests mean
    the same message delivered twice."""
    return hashlib.sha256(message.to_bytes()).hexdigest()[:32]


@dataclass(slots=True)
class Conversation:
    """Everything exchanged with one source, known by its reply key."""

    reply_key: ReplyKey
    recipient_id: str
    messages: list[Message] = field(default_factory=list)
    # Set when the source was handed to a recipient who is not on this desk.
    handed_over_to: str | None = None
    # The desk's own: a name and notes the recipients keep, whether it is muted, and the
    # id of the newest message someone at the desk has seen (those above it are unread).
    alias: str = ""
    notes: str = field(default="", repr=False)
    muted: bool = False
    read_up_to: int = 0

    @property
    def short_id(self) -> str:
        return self.reply_key.hex()[:SHORT_ID_LEN]

    @property
    def latest(self) -> int:
        """The id of its newest message (0 when it has none): what orders sources by
        their latest activity, as coarse times cannot."""
        return max((message.id for message in self.messages), default=0)

    @property
    def unread(self) -> int:
        """How many messages from the source nobody at the desk has seen yet."""
        return sum(m.direction is Flow.IN and m.id > self.read_up_to for m in self.messages)

    def has_digest(self, digest: str) -> bool:
        return any(message.digest == digest for message in self.messages)

    def to_json(self) -> dict[str, Any]:
        return {
            "reply_key": self.reply_key.hex(),
            "recipient": self.recipient_id,
            "messages": [message.to_json() for message in self.messages],
            "handed_over_to": self.handed_over_to,
            "alias": self.alias,
            "notes": self.notes,
            "muted": self.muted,
            "read_up_to": self.read_up_to,
        }

    @classmethod
    def from_json(cls, obj: object) -> Conversation:
        """Parse a stored conversation (vaults written before the desk's own alias, notes,
        mute and read marker load with none); raises MalformedInput."""
        fields = require_object(obj, "a conversation")
        messages = fields.get("messages")
        handed = fields.get("handed_over_to")
        recipient = fields.get("recipient")
        alias, notes = fields.get("alias", ""), fields.get("notes", "")
        muted, read_up_to = fields.get("muted", False), fields.get("read_up_to", 0)
        if not (
            isinstance(messages, list)
            and isinstance(recipient, str)
            and isinstance(alias, str)
            and isinstance(notes, str)
            and isinstance(muted, bool)
            and isinstance(read_up_to, int)
        ):
            raise MalformedInput("a stored conversation is malformed")
        return cls(
            ReplyKey(hex_decode(fields.get("reply_key"), 32)),
            recipient,
            [Message.from_json(message) for message in messages],
            None if handed is None else str(handed),
            alias,
            notes,
            muted,
            read_up_to,
        )


@dataclass(frozen=True, slots=True)
class InFlight:
    """A reply encrypted and about to leave, kept until the edge took it: after a crash
    the same bytes go again, so the mixer's replay filter drops the copy if the first one
    arrived. ``wrapped_for``: the CoverNode messaging keys it is wrapped for (raw)."""

    message_id: int
    j2c: bytes
    wrapped_for: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message_id,
            "j2c": b64_encode(self.j2c),
            "wrapped_for": [key.hex() for key in self.wrapped_for],
        }

    @classmethod
    def from_json(cls, obj: object) -> InFlight:
        fields = require_object(obj, "a reply in flight")
        message_id, keys = fields.get("message"), fields.get("wrapped_for")
        if not isinstance(message_id, int) or not isinstance(keys, list):
            raise MalformedInput("a reply in flight is malformed")
        return cls(
            message_id,
            b64_decode(fields.get("j2c")),
            tuple(hex_decode(key) for key in keys),
        )


@dataclass(slots=True)
class DeskState:
    """The whole contents of a desk's vault."""

    recipients: list[Recipient] = field(default_factory=list)
    # The id of the last journalist dead drop read: the next read asks for ids above it.
    cursor: int = 0
    conversations: dict[str, Conversation] = field(default_factory=dict)
    # Message ids of outgoing messages not yet sent, oldest first.
    outbox: list[int] = field(default_factory=list)
    last_j2c_at: datetime | None = None
    next_message_id: int = 1
    in_flight: InFlight | None = None
    # When the CoverNode published the last dead drop read (public; for the status page).
    last_dead_drop_at: datetime | None = None
    # Keys the pseudonyms the desk shows for sources (quietline.desk.web.pseudonyms), so
    # that they are stable on this desk and say nothing anywhere else.
    pseudonym_key: bytes = field(default_factory=lambda: nacl.utils.random(32), repr=False)

    # --- lookups ------------------------------------------------------------------------

    def recipient(self, recipient_id: str) -> Recipient:
        """The recipient with this id; raises UnknownRecipient."""
        for recipient in self.recipients:
            if recipient.id == recipient_id:
                return recipient
        held = ", ".join(r.id for r in self.recipients) or "none"
        raise UnknownRecipient(f"no recipient {recipient_id!r} on this desk (it holds: {held})")

    def has_recipient(self, recipient_id: str) -> bool:
        return any(recipient.id == recipient_id for recipient in self.recipients)

    def conversation(self, source: str) -> Conversation:
        """The conversation whose reply key starts with ``source`` (hex, any case).

        Raises UnknownSource when none or several match.
        """
        prefix = source.strip().lower()
        matches = [c for key, c in self.conversations.items() if prefix and key.startswith(prefix)]
        if not matches:
            raise UnknownSource(f"no source {source!r} on this desk (see `quietline desk sources`)")
        if len(matches) > 1:
            raise UnknownSource(f"{source!r} matches {len(matches)} sources: give more characters")
        return matches[0]

    def message(self, message_id: int) -> tuple[Conversation, Message]:
        for conversation in self.conversations.values():
            for message in conversation.messages:
                if message.id == message_id:
                    return conversation, message
        raise KeyError(message_id)

    # --- changes ------------------------------------------------------------------------

    def put_recipient(self, recipient: Recipient) -> bool:
        """Add a recipient, or merge a renewed bundle into the one already held (a newer
        identity key replaces the old one; messaging keys accumulate). Returns True when
        the recipient is new."""
        for index, held in enumerate(self.recipients):
            if held.id != recipient.id:
                continue
            known = {key.published.key for key in held.messaging}
            identity = held.identity
            if recipient.identity.not_valid_after > identity.not_valid_after:
                identity = recipient.identity
            merged = held.messaging + tuple(
                key for key in recipient.messaging if key.published.key not in known
            )
            self.recipients[index] = Recipient(recipient.profile, identity, merged)
            return False
        self.recipients.append(recipient)
        return True

    def replace_recipient(self, recipient: Recipient) -> None:
        for index, held in enumerate(self.recipients):
            if held.id == recipient.id:
                self.recipients[index] = recipient
                return
        raise UnknownRecipient(recipient.id)

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def record_received(
        self,
        reply_key: ReplyKey,
        recipient_id: str,
        text: str,
        digest: str,
        at: datetime,
    ) -> Conversation | None:
        """Store an incoming message once, after every message stored before it, at the
        coarse hour of ``at`` (that of the dead drop it came in); returns its conversation,
        or None when this message was already stored."""
        conversation = self.conversations.get(reply_key.hex())
        if conversation is None:
            conversation = Conversation(reply_key, recipient_id)
            self.conversations[reply_key.hex()] = conversation
        elif conversation.has_digest(digest):
            return None
        conversation.messages.append(
            Message(
                self.new_message_id(),
                Flow.IN,
                MessageKind.TEXT,
                recipient_id,
                text,
                coarse(at),
                digest=digest,
            )
        )
        return conversation

    def queue_outgoing(
        self, conversation: Conversation, kind: MessageKind, sender_id: str, text: str, at: datetime
    ) -> Message:
        """Append an outgoing message (at the coarse hour of ``at``) to the conversation
        and to the end of the outbox."""
        message = Message(self.new_message_id(), Flow.OUT, kind, sender_id, text, coarse(at))
        conversation.messages.append(message)
        self.outbox.append(message.id)
        return message

    def forget_before(self, cutoff: datetime) -> int:
        """Delete every message from before ``cutoff`` except replies still waiting to
        leave; a conversation keeps its source, alias and notes. Returns how many went."""
        waiting = set(self.outbox)
        forgotten = 0
        for conversation in self.conversations.values():
            kept = [m for m in conversation.messages if m.at >= cutoff or m.id in waiting]
            forgotten += len(conversation.messages) - len(kept)
            conversation.messages = kept
        return forgotten

    def mark_sent(self, message_id: int, at: datetime) -> None:
        """Take a message off the outbox and record the hour it left."""
        conversation, message = self.message(message_id)
        index = conversation.messages.index(message)
        conversation.messages[index] = Message(
            message.id,
            message.direction,
            message.kind,
            message.recipient_id,
            message.text,
            message.at,
            sent_at=coarse(at),
        )
        self.outbox.remove(message_id)
        if self.in_flight is not None and self.in_flight.message_id == message_id:
            self.in_flight = None

    # --- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "recipients": [recipient.to_json() for recipient in self.recipients],
            "cursor": self.cursor,
            "conversations": [c.to_json() for c in self.conversations.values()],
            "outbox": list(self.outbox),
            "last_j2c_at": _optional_time(self.last_j2c_at),
            "next_message_id": self.next_message_id,
            "in_flight": None if self.in_flight is None else self.in_flight.to_json(),
            "last_dead_drop_at": _optional_time(self.last_dead_drop_at),
            "pseudonym_key": b64_encode(self.pseudonym_key),
        }

    @classmethod
    def from_json(cls, obj: object) -> DeskState:
        """Parse a vault's contents; raises MalformedInput (e.g. a vault of another kind)."""
        fields = require_object(obj, "the desk state")
        if fields.get("version") != STATE_VERSION:
            raise MalformedInput("this vault does not hold a desk (or a desk of another version)")
        recipients = fields.get("recipients")
        conversations = fields.get("conversations")
        outbox = fields.get("outbox")
        cursor = fields.get("cursor")
        next_id = fields.get("next_message_id")
        if not (
            isinstance(recipients, list)
            and isinstance(conversations, list)
            and isinstance(outbox, list)
            and all(isinstance(i, int) for i in outbox)
            and isinstance(cursor, int)
            and isinstance(next_id, int)
        ):
            raise MalformedInput("the desk state is malformed")
        last = fields.get("last_j2c_at")
        in_flight = fields.get("in_flight")  # absent in vaults written before it existed
        last_dead_drop = fields.get("last_dead_drop_at")  # likewise
        pseudonym_key = fields.get("pseudonym_key")  # likewise: a new one is saved with them
        parsed = [Conversation.from_json(c) for c in conversations]
        return cls(
            recipients=[Recipient.from_json(r) for r in recipients],
            cursor=cursor,
            conversations={c.reply_key.hex(): c for c in parsed},
            outbox=list(outbox),
            last_j2c_at=None if last is None else parse_rfc3339(last),
            next_message_id=next_id,
            in_flight=None if in_flight is None else InFlight.from_json(in_flight),
            last_dead_drop_at=None if last_dead_drop is None else parse_rfc3339(last_dead_drop),
            pseudonym_key=(
                nacl.utils.random(32)
                if pseudonym_key is None
                else _key_of_32(b64_decode(pseudonym_key))
            ),
        )


def _optional_time(at: datetime | None) -> str | None:
    return None if at is None else format_rfc3339(at)


def _key_of_32(raw: bytes) -> bytes:
    if len(raw) != 32:
        raise MalformedInput("the desk's pseudonym key must be 32 bytes")
    return raw
