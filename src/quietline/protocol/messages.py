"""The five CoverDrop messages, built and opened with their exact wire sizes.

======  =================================================  ======  =====
name    plaintext                                          box     wire
======  =================================================  ======  =====
U2J     reply key 32 ‖ reserved 0x00 ‖ PCS 512 (545)        sealed   593
U2C     tag 4 ‖ U2J 593 (597)                              multix2  773
C2J     U2J 593, unchanged                                 2-party  633
J2U     type 1 ‖ body 512 (513): a PCS, or for a handover  2-party  553
        the new recipient's id in UTF-8, NUL-padded
J2C     flag 1 ‖ J2U 553 (554)                             multix2  730
======  =================================================  ======  =====

Cover messages come out of the same functions as real ones: a cover U2C is a U2J
sealed to a throwaway key behind the all-zero tag, a cover J2C is a J2U between two
throwaway keys behind the 0x00 flag.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.utils

from quietline.protocol.boxes import (
    AnonymousBox,
    Codec,
    MultiAnonymousBox,
    RandomBytes,
    TwoPartyBox,
    anonymous_box_codec,
    multi_anonymous_box_codec,
    require_length,
    two_party_box_codec,
)
from quietline.protocol.constants import (
    COVERNODE_WRAPPING_KEY_COUNT,
    J2C_MESSAGE_LEN,
    J2U_MESSAGE_LEN,
    MESSAGE_PADDING_LEN,
    RECIPIENT_TAG_LEN,
    U2C_MESSAGE_LEN,
    U2J_MESSAGE_LEN,
    X25519_PUBLIC_KEY_LEN,
)
from quietline.protocol.errors import MalformedInput, MisuseError
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    PublicEncryptionKey,
    ReplyKey,
)
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.recipients import COVER_TAG, RecipientId, RecipientTag

# --- user → journalist --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class U2JMessage:
    """What a source writes to a recipient: where to reply, and the text."""

    reply_key: ReplyKey
    text: PaddedCompressedString

    def to_bytes(self) -> bytes:
        return self.reply_key.raw + b"\x00" + self.text.raw

    @classmethod
    def from_bytes(cls, raw: bytes) -> U2JMessage:
        """Parse a U2J; raises MalformedInput on a wrong size or a reply key no reply
        could be sealed to (a low-order point)."""
        require_length(raw, U2J_MESSAGE_LEN, "a U2J message")
        # The reserved byte is ignored on read, as CoverDrop's readers do.
        return cls(
            ReplyKey(raw[:X25519_PUBLIC_KEY_LEN]).require_contributory(),
            PaddedCompressedString(raw[X25519_PUBLIC_KEY_LEN + 1 :]),
        )


U2J: Codec[U2JMessage] = Codec("U2J", U2J_MESSAGE_LEN, U2JMessage.to_bytes, U2JMessage.from_bytes)
ENCRYPTED_U2J = anonymous_box_codec(U2J)
EncryptedU2J = AnonymousBox[U2JMessage]


@dataclass(frozen=True, slots=True)
class U2CMessage:
    """The CoverNode's view of a user message: whom it is for, and the sealed U2J."""

    tag: RecipientTag
    payload: EncryptedU2J

    def to_bytes(self) -> bytes:
        return self.tag.raw + self.payload.data

    @classmethod
    def from_bytes(cls, raw: bytes) -> U2CMessage:
        require_length(raw, U2C_MESSAGE_LEN, "a U2C message")
        return cls(
            RecipientTag(raw[:RECIPIENT_TAG_LEN]), AnonymousBox(U2J, raw[RECIPIENT_TAG_LEN:])
        )


U2C: Codec[U2CMessage] = Codec("U2C", U2C_MESSAGE_LEN, U2CMessage.to_bytes, U2CMessage.from_bytes)
ENCRYPTED_U2C = multi_anonymous_box_codec(U2C, COVERNODE_WRAPPING_KEY_COUNT)
EncryptedU2C = MultiAnonymousBox[U2CMessage]

# What the CoverNode forwards to a journalist: the sealed U2J, unchanged.
ENCRYPTED_C2J = two_party_box_codec(ENCRYPTED_U2J)
EncryptedC2J = TwoPartyBox[EncryptedU2J]


def _wrapping_keys(
    covernode_keys: Sequence[CoverNodeMessagingKey],
) -> Sequence[CoverNodeMessagingKey]:
    if len(covernode_keys) != COVERNODE_WRAPPING_KEY_COUNT:
        raise MisuseError(
            f"messages are wrapped for exactly {COVERNODE_WRAPPING_KEY_COUNT} CoverNode keys"
        )
    return covernode_keys


def encrypt_u2c(
    covernode_keys: Sequence[CoverNodeMessagingKey],
    *,
    recipient_id: str,
    recipient_key: JournalistMessagingKey,
    reply_key: ReplyKey,
    text: str,
    random_bytes: RandomBytes = nacl.utils.random,
) -> EncryptedU2C:
    """A real user message for ``recipient_id``; raises MessageTooLong if ``text`` won't fit."""
    u2j = U2JMessage(reply_key, PaddedCompressedString.from_text(text, random_bytes))
    return _wrap_u2c(
        covernode_keys, RecipientTag.of(recipient_id), recipient_key, u2j, random_bytes
    )


def encrypt_cover_u2c(
    covernode_keys: Sequence[CoverNodeMessagingKey],
    random_bytes: RandomBytes = nacl.utils.random,
) -> EncryptedU2C:
    """A cover user message: the same construction, for nobody."""
    throwaway = EncryptionKeyPair.generate().public
    u2j = U2JMessage(ReplyKey(throwaway.raw), PaddedCompressedString.from_text("", random_bytes))
    return _wrap_u2c(covernode_keys, COVER_TAG, throwaway, u2j, random_bytes)


def _wrap_u2c(
    covernode_keys: Sequence[CoverNodeMessagingKey],
    tag: RecipientTag,
    recipient_key: PublicEncryptionKey,
    u2j: U2JMessage,
    random_bytes: RandomBytes,
) -> EncryptedU2C:
    inner = U2CMessage(tag, AnonymousBox.seal(U2J, recipient_key, u2j))
    return MultiAnonymousBox.seal(U2C, _wrapping_keys(covernode_keys), inner, random_bytes)


def parse_u2c(raw: bytes) -> EncryptedU2C:
    """The 773 bytes of a U2C as a typed box; raises MalformedInput on a wrong size."""
    return ENCRYPTED_U2C.decode(ENCRYPTED_U2C.check_size(raw))


def forward_to_journalist(
    covernode_key: EncryptionKeyPair,
    journalist_key: JournalistMessagingKey,
    payload: EncryptedU2J,
    random_bytes: RandomBytes = nacl.utils.random,
) -> EncryptedC2J:
    """The CoverNode's re-encryption of a sealed U2J for a journalist's dead drop."""
    return TwoPartyBox.seal(ENCRYPTED_U2J, covernode_key, journalist_key, payload, random_bytes)


def filler_c2j(random_bytes: RandomBytes = nacl.utils.random) -> EncryptedC2J:
    """A dead-drop entry nobody can open, built the way real entries are."""
    payload = AnonymousBox.seal(
        U2J,
        EncryptionKeyPair.generate().public,
        U2JMessage(
            ReplyKey(EncryptionKeyPair.generate().public.raw),
            PaddedCompressedString.from_text("", random_bytes),
        ),
    )
    nobody = JournalistMessagingKey(EncryptionKeyPair.generate().public.raw)
    return forward_to_journalist(EncryptionKeyPair.generate(), nobody, payload, random_bytes)


# --- journalist → user --------------------------------------------------------------------


class J2UType(enum.IntEnum):
    TEXT = 0x00
    HANDOVER = 0x01


# CoverDrop's apps read a handover's id up to the first NUL and refuse it unless that NUL
# comes within the first 128 bytes, so an id is at most 127 bytes.
MAX_HANDOVER_ID_LEN = 127


@dataclass(frozen=True, slots=True)
class HandoverBody:
    """The body of a handover J2U as CoverDrop lays it out: the new recipient's id in
    UTF-8, then NUL bytes to 512 (``JournalistToUserMessage::serialize`` and
    ``to_message`` in ``common/src/api/models/messages/journalist_to_user_message.rs``;
    Android's ``DecryptedDeadDropMessage.Handover.parse``, iOS's
    ``DeadDropMessageParser.parseHandoverMessage``). Like a PCS, it is read only when
    its :meth:`text` is asked for, so a garbled one is kept and shown as unreadable."""

    raw: bytes

    def __post_init__(self) -> None:
        require_length(self.raw, MESSAGE_PADDING_LEN, "a handover body")

    @classmethod
    def of(cls, recipient_id: RecipientId) -> HandoverBody:
        """The body naming ``recipient_id``; MalformedInput if it is too long for the apps."""
        encoded = recipient_id.encode()
        if len(encoded) > MAX_HANDOVER_ID_LEN:
            raise MalformedInput(f"a handover names an id of at most {MAX_HANDOVER_ID_LEN} bytes")
        return cls(encoded.ljust(MESSAGE_PADDING_LEN, b"\0"))

    def text(self) -> RecipientId:
        """The id up to the first NUL (what follows is not read, as in CoverDrop); raises
        MalformedInput unless it is a valid id that CoverDrop's apps would read."""
        end = self.raw.find(b"\0")
        if not 0 < end <= MAX_HANDOVER_ID_LEN:
            raise MalformedInput("a handover body is an id of 1 to 127 bytes and a NUL")
        try:
            return RecipientId(self.raw[:end].decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedInput("a handover's id is not UTF-8") from None


@dataclass(frozen=True, slots=True)
class J2UMessage:
    """A recipient's reply: a text, or a handover naming the recipient who takes over."""

    type: J2UType
    body: PaddedCompressedString | HandoverBody

    def __post_init__(self) -> None:
        expected = HandoverBody if self.type is J2UType.HANDOVER else PaddedCompressedString
        if not isinstance(self.body, expected):
            raise MisuseError(f"a {self.type.name} J2U carries a {expected.__name__}")

    def to_bytes(self) -> bytes:
        return bytes([self.type]) + self.body.raw

    @classmethod
    def from_bytes(cls, raw: bytes) -> J2UMessage:
        require_length(raw, J2U_MESSAGE_LEN, "a J2U message")
        try:
            kind = J2UType(raw[0])
        except ValueError as error:
            raise MalformedInput(f"unknown J2U message type {raw[0]:#04x}") from error
        if kind is J2UType.HANDOVER:
            return cls(kind, HandoverBody(raw[1:]))
        return cls(kind, PaddedCompressedString(raw[1:]))


J2U: Codec[J2UMessage] = Codec("J2U", J2U_MESSAGE_LEN, J2UMessage.to_bytes, J2UMessage.from_bytes)
ENCRYPTED_J2U = two_party_box_codec(J2U)
EncryptedJ2U = TwoPartyBox[J2UMessage]


@dataclass(frozen=True, slots=True)
class J2CMessage:
    """The CoverNode's view of a journalist message: real or cover, and the boxed J2U."""

    is_real: bool
    payload: EncryptedJ2U

    def to_bytes(self) -> bytes:
        return (b"\x01" if self.is_real else b"\x00") + self.payload.data

    @classmethod
    def from_bytes(cls, raw: bytes) -> J2CMessage:
        require_length(raw, J2C_MESSAGE_LEN, "a J2C message")
        if raw[0] not in (0, 1):
            raise MalformedInput(f"J2C flag must be 0x00 or 0x01, got {raw[0]:#04x}")
        return cls(raw[0] == 1, TwoPartyBox(J2U, raw[1:]))


J2C: Codec[J2CMessage] = Codec("J2C", J2C_MESSAGE_LEN, J2CMessage.to_bytes, J2CMessage.from_bytes)
ENCRYPTED_J2C = multi_anonymous_box_codec(J2C, COVERNODE_WRAPPING_KEY_COUNT)
EncryptedJ2C = MultiAnonymousBox[J2CMessage]


def encrypt_j2c(
    covernode_keys: Sequence[CoverNodeMessagingKey],
    journalist_key: EncryptionKeyPair,
    user_key: ReplyKey,
    message: J2UMessage,
    random_bytes: RandomBytes = nacl.utils.random,
) -> EncryptedJ2C:
    """A real reply from ``journalist_key`` to the user's reply key."""
    payload = TwoPartyBox.seal(J2U, journalist_key, user_key, message, random_bytes)
    return MultiAnonymousBox.seal(
        J2C, _wrapping_keys(covernode_keys), J2CMessage(True, payload), random_bytes
    )


def cover_j2u(random_bytes: RandomBytes = nacl.utils.random) -> EncryptedJ2U:
    """A J2U between two throwaway keys: cover, and filler for user dead drops."""
    message = J2UMessage(J2UType.TEXT, PaddedCompressedString.from_text("", random_bytes))
    return TwoPartyBox.seal(
        J2U,
        EncryptionKeyPair.generate(),
        EncryptionKeyPair.generate().public,
        message,
        random_bytes,
    )


def encrypt_cover_j2c(
    covernode_keys: Sequence[CoverNodeMessagingKey],
    random_bytes: RandomBytes = nacl.utils.random,
) -> EncryptedJ2C:
    """A cover journalist message: the same construction, flagged 0x00, for nobody."""
    return MultiAnonymousBox.seal(
        J2C,
        _wrapping_keys(covernode_keys),
        J2CMessage(False, cover_j2u(random_bytes)),
        random_bytes,
    )


def parse_j2c(raw: bytes) -> EncryptedJ2C:
    """The 730 bytes of a J2C as a typed box; raises MalformedInput on a wrong size."""
    return ENCRYPTED_J2C.decode(ENCRYPTED_J2C.check_size(raw))


def text_reply(text: str, random_bytes: RandomBytes = nacl.utils.random) -> J2UMessage:
    return J2UMessage(J2UType.TEXT, PaddedCompressedString.from_text(text, random_bytes))


def handover(new_recipient_id: str) -> J2UMessage:
    """Tell a source that ``new_recipient_id`` takes over the conversation; raises
    MalformedInput for an id that is not valid or longer than MAX_HANDOVER_ID_LEN."""
    return J2UMessage(J2UType.HANDOVER, HandoverBody.of(RecipientId(new_recipient_id)))
