"""What a source's vault holds: its reply key pair, the messages it sent, the replies it
received and the handovers it was told about.

Texts are kept as the 512-byte padded compressed strings they travelled as, and the whole
is stored as zlib-compressed JSON (the padding and the base64 compress away, so a short
message takes little room); when the fixed-size vault fills up the oldest entries are
dropped first (:meth:`SourceRecords.trim_to`).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quietline.protocol.constants import J2U_MESSAGE_LEN, MESSAGE_PADDING_LEN
from quietline.protocol.encoding import (
    b64_decode,
    b64_encode,
    format_rfc3339,
    hex_decode,
    parse_rfc3339,
)
from quietline.protocol.errors import MalformedInput
from quietline.protocol.jsonvalues import load_json, require_object, require_string
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.messages import J2UMessage, J2UType
from quietline.protocol.pcs import PaddedCompressedString

RECORDS_VERSION = 2
# A padded compressed string's length field: what comes after its stream is padding.
_LENGTH = struct.Struct(">H")
# What a vault's records may inflate to: far more than any vault holds, far less than memory.
MAX_INFLATED = 16 * 1024 * 1024
MAX_HANDOVER_HOPS = 16


@dataclass(frozen=True, slots=True)
class SentMessage:
    recipient_id: str
    text: PaddedCompressedString
    queued_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.recipient_id,
            "pcs": b64_encode(_compact(self.text.raw)),
            "queued_at": format_rfc3339(self.queued_at),
        }

    @classmethod
    def from_json(cls, obj: object) -> SentMessage:
        fields = require_object(obj, "a sent message")
        return cls(
            require_string(fields.get("to"), "to"),
            PaddedCompressedString(_expand(b64_decode(fields.get("pcs")), MESSAGE_PADDING_LEN)),
            parse_rfc3339(fields.get("queued_at")),
        )


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply as the user sees it: who sent it, a text or a handover, and when."""

    journalist_id: str
    kind: str  # "text" or "handover" (then ``text`` is the new recipient's id)
    text: str = field(repr=False)
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "journalist_id": self.journalist_id,
            "type": self.kind,
            "text": self.text,
            "received_at": format_rfc3339(self.received_at),
        }


@dataclass(frozen=True, slots=True)
class StoredReply:
    """A reply in the vault: its J2U exactly as it arrived, and a digest to spot repeats."""

    digest: str
    journalist_id: str
    message: J2UMessage
    received_at: datetime

    @classmethod
    def of(cls, journalist_id: str, message: J2UMessage, received_at: datetime) -> StoredReply:
        digest = hashlib.sha256(journalist_id.encode() + message.to_bytes()).hexdigest()[:32]
        return cls(digest, journalist_id, message, received_at)

    def shown(self) -> Reply:
        kind = "handover" if self.message.type is J2UType.HANDOVER else "text"
        try:
            text = self.message.body.text()
        except MalformedInput:
            text = "(a reply that could not be read)"
        return Reply(self.journalist_id, kind, text, self.received_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "from": self.journalist_id,
            "j2u": b64_encode(self.message.to_bytes()[:1] + _compact(self.message.body.raw)),
            "received_at": format_rfc3339(self.received_at),
        }

    @classmethod
    def from_json(cls, obj: object) -> StoredReply:
        fields = require_object(obj, "a stored reply")
        return cls(
            require_string(fields.get("digest"), "digest"),
            require_string(fields.get("from"), "from"),
            J2UMessage.from_bytes(_expand(b64_decode(fields.get("j2u")), J2U_MESSAGE_LEN)),
            parse_rfc3339(fields.get("received_at")),
        )


@dataclass
class SourceRecords:
    """Everything secret a source keeps; lives only inside the vault."""

    user_key: EncryptionKeyPair
    sent: list[SentMessage] = field(default_factory=list)
    replies: list[StoredReply] = field(default_factory=list)
    handovers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls) -> SourceRecords:
        return cls(EncryptionKeyPair.generate())

    def current_recipient(self, recipient_id: str) -> str:
        """Where a conversation with ``recipient_id`` goes now, following handovers."""
        seen = {recipient_id}
        for _ in range(MAX_HANDOVER_HOPS):
            following = self.handovers.get(recipient_id)
            if following is None or following in seen:
                break
            seen.add(following)
            recipient_id = following
        return recipient_id

    def add_reply(self, reply: StoredReply) -> bool:
        """Keep ``reply`` unless it is already kept; a handover redirects its sender."""
        if any(kept.digest == reply.digest for kept in self.replies):
            return False
        self.replies.append(reply)
        self.replies.sort(key=lambda kept: kept.received_at)
        if reply.message.type is J2UType.HANDOVER:
            new_id = reply.shown().text
            if new_id and new_id != reply.journalist_id:
                self.handovers[reply.journalist_id] = new_id
        return True

    def trim_to(self, room: int) -> int:
        """Drop the oldest sent messages and replies until they fit in ``room`` bytes;
        returns how many were dropped."""
        dropped = 0
        while len(self.serialised()) > room and (self.sent or self.replies):
            oldest_sent = self.sent[0].queued_at if self.sent else None
            oldest_reply = self.replies[0].received_at if self.replies else None
            if oldest_reply is None or (oldest_sent is not None and oldest_sent <= oldest_reply):
                self.sent.pop(0)
            else:
                self.replies.pop(0)
            dropped += 1
        return dropped

    def serialised(self) -> bytes:
        """The records as the vault stores them: compressed JSON."""
        return zlib.compress(json.dumps(self.to_json(), separators=(",", ":")).encode(), 9)

    @classmethod
    def parse(cls, stored: bytes) -> SourceRecords:
        """Parse :meth:`serialised` output; raises MalformedInput on any damage."""
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(stored, MAX_INFLATED)
        except zlib.error as error:
            raise MalformedInput("the vault's records are not compressed JSON") from error
        if inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
            raise MalformedInput("the vault's records are cut short or too large")
        return cls.from_json(load_json(text))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORDS_VERSION,
            "user_secret": self.user_key.secret.hex(),
            "sent": [message.to_json() for message in self.sent],
            "replies": [reply.to_json() for reply in self.replies],
            "handovers": dict(self.handovers),
        }

    @classmethod
    def from_json(cls, obj: object) -> SourceRecords:
        """Parse the vault's contents; raises MalformedInput on any shape error."""
        fields = require_object(obj, "the vault contents")
        if fields.get("version") != RECORDS_VERSION:
            raise MalformedInput("the vault was written by an unknown version")
        sent = fields.get("sent", [])
        replies = fields.get("replies", [])
        handovers = require_object(fields.get("handovers", {}), "the handovers")
        if not isinstance(sent, list) or not isinstance(replies, list):
            raise MalformedInput("the vault's sent messages and replies must be lists")
        if not all(isinstance(v, str) for v in handovers.values()):
            raise MalformedInput("handovers map recipient ids to recipient ids")
        return cls(
            EncryptionKeyPair.from_secret(hex_decode(fields.get("user_secret"), 32)),
            [SentMessage.from_json(item) for item in sent],
            [StoredReply.from_json(item) for item in replies],
            dict(handovers),
        )


def _compact(padded: bytes) -> bytes:
    """A padded compressed string without its random padding (which does not compress and
    means nothing): its length field and stream, or all of it when the length is wrong."""
    if len(padded) < _LENGTH.size:
        return padded
    (length,) = _LENGTH.unpack_from(padded)
    return padded[: _LENGTH.size + length] if _LENGTH.size + length <= len(padded) else padded


def _expand(stored: bytes, size: int) -> bytes:
    """``stored`` padded back to ``size`` bytes with zeros (parsers check the rest)."""
    if len(stored) > size:
        raise MalformedInput(f"a stored message is longer than {size} bytes")
    return stored + bytes(size - len(stored))
