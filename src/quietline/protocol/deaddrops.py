"""Dead drops: signed batches of fixed-size entries that recipients trial-decrypt.

User-facing dead drops hold 553-byte J2U boxes; journalist-facing ones hold 633-byte
C2J boxes and an epoch. A CoverNode identity key signs
``SHA-256(data ‖ i64BE(created_at seconds) [‖ i32BE(epoch)])``. Readers accept the
legacy ``cert`` field that older CoverDrop dead drops carry.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quietline.protocol.boxes import AnonymousBox, TwoPartyBox, shared_key
from quietline.protocol.certificates import KeyRole, require_object
from quietline.protocol.constants import (
    C2J_ENCRYPTED_LEN,
    ED25519_SIGNATURE_LEN,
    J2U_ENCRYPTED_LEN,
)
from quietline.protocol.encoding import (
    b64_decode,
    b64_encode,
    format_rfc3339,
    hex_decode,
    i32be,
    i64be,
    parse_rfc3339,
    unix_seconds,
)
from quietline.protocol.errors import (
    BadSignature,
    DecryptionFailed,
    KeyUnavailable,
    MalformedInput,
    ProtocolError,
)
from quietline.protocol.keys import EncryptionKeyPair, PublicEncryptionKey, SigningKeyPair
from quietline.protocol.messages import (
    ENCRYPTED_U2J,
    J2U,
    EncryptedC2J,
    EncryptedJ2U,
    J2UMessage,
    U2JMessage,
)
from quietline.protocol.verification import VerifiedKeys

MAX_DEAD_DROP_ENTRIES = 100_000


class DeadDropKind(enum.Enum):
    """Which way a dead drop flows, which fixes its entry size and signed fields."""

    USER = "user"
    JOURNALIST = "journalist"

    @property
    def entry_size(self) -> int:
        return J2U_ENCRYPTED_LEN if self is DeadDropKind.USER else C2J_ENCRYPTED_LEN


def signature_data(
    kind: DeadDropKind, data: bytes, created_at: datetime, epoch: int | None
) -> bytes:
    """The 32-byte digest a CoverNode identity key signs."""
    message = data + i64be(unix_seconds(created_at))
    if kind is DeadDropKind.JOURNALIST:
        if epoch is None:
            raise MalformedInput("a journalist dead drop must carry an epoch")
        message += i32be(epoch)
    return hashlib.sha256(message).digest()


@dataclass(frozen=True, slots=True)
class UnpublishedDeadDrop:
    """A signed dead drop before the edge has given it an id."""

    kind: DeadDropKind
    created_at: datetime
    data: bytes
    signature: bytes
    epoch: int | None

    def __post_init__(self) -> None:
        size = self.kind.entry_size
        if not self.data or len(self.data) % size or len(self.data) // size > MAX_DEAD_DROP_ENTRIES:
            raise MalformedInput(f"dead drop data must be a whole number of {size}-byte entries")
        if len(self.signature) != ED25519_SIGNATURE_LEN:
            raise MalformedInput("a dead drop signature must be 64 bytes")
        if (self.epoch is None) != (self.kind is DeadDropKind.USER):
            raise MalformedInput("only journalist dead drops carry an epoch")
        if self.epoch is not None and not 0 <= self.epoch < 2**31:
            raise MalformedInput("a dead drop epoch must fit in a signed 32-bit integer")

    def entries(self) -> list[bytes]:
        size = self.kind.entry_size
        return [self.data[i : i + size] for i in range(0, len(self.data), size)]

    def verify(self, keys: VerifiedKeys) -> None:
        """Raise BadSignature unless a CoverNode identity key that was valid at
        ``created_at`` signed this dead drop."""
        digest = signature_data(self.kind, self.data, self.created_at, self.epoch)
        for owners in keys.of_role(KeyRole.COVERNODE_ID).values():
            for key in owners:
                if self.created_at > key.not_valid_after:
                    continue
                try:
                    key.signing_key().verify(digest, self.signature)
                except BadSignature:
                    continue
                return
        raise BadSignature("no valid CoverNode identity key signed this dead drop")

    def published(self, dead_drop_id: int) -> DeadDrop:
        return DeadDrop(dead_drop_id, self)

    @classmethod
    def from_json(cls, kind: DeadDropKind, obj: object) -> UnpublishedDeadDrop:
        """Parse ``{created_at, data, signature[, epoch]}``; raises MalformedInput."""
        fields = require_object(obj, "a dead drop")
        epoch = fields.get("epoch") if kind is DeadDropKind.JOURNALIST else None
        if kind is DeadDropKind.JOURNALIST and (
            not isinstance(epoch, int) or isinstance(epoch, bool)
        ):
            raise MalformedInput("a journalist dead drop must carry an integer epoch")
        return cls(
            kind,
            parse_rfc3339(fields.get("created_at")),
            b64_decode(fields.get("data")),
            hex_decode(fields.get("signature"), ED25519_SIGNATURE_LEN),
            epoch,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "created_at": format_rfc3339(self.created_at),
            "data": b64_encode(self.data),
            "signature": self.signature.hex(),
        }
        if self.epoch is not None:
            body["epoch"] = self.epoch
        return body


def sign_dead_drop(
    kind: DeadDropKind,
    entries: Sequence[bytes],
    created_at: datetime,
    epoch: int | None,
    *,
    identity: SigningKeyPair,
    identity_not_valid_after: datetime,
) -> UnpublishedDeadDrop:
    """Concatenate ``entries`` and sign them with a CoverNode identity key.

    Raises KeyUnavailable when the identity key is past its expiry at ``created_at``, and
    MalformedInput when an entry has the wrong size.
    """
    if created_at > identity_not_valid_after:
        raise KeyUnavailable("the CoverNode identity key has expired and may no longer sign")
    if any(len(entry) != kind.entry_size for entry in entries):
        raise MalformedInput(f"every {kind.value} dead-drop entry must be {kind.entry_size} bytes")
    data = b"".join(entries)
    signature = identity.sign(signature_data(kind, data, created_at, epoch))
    return UnpublishedDeadDrop(kind, created_at, data, signature, epoch)


@dataclass(frozen=True, slots=True)
class DeadDrop:
    """A published dead drop: an id given by the edge, and the signed body."""

    id: int
    body: UnpublishedDeadDrop

    @classmethod
    def from_json(cls, kind: DeadDropKind, obj: object) -> DeadDrop:
        """Parse one dead drop; raises MalformedInput on any shape error."""
        fields = require_object(obj, "a dead drop")
        dead_drop_id = fields.get("id")
        if not isinstance(dead_drop_id, int) or isinstance(dead_drop_id, bool) or dead_drop_id < 0:
            raise MalformedInput("a dead drop id must be a non-negative integer")
        return cls(dead_drop_id, UnpublishedDeadDrop.from_json(kind, fields))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.body.to_json()}


def parse_dead_drop_list(kind: DeadDropKind, obj: object) -> list[DeadDrop]:
    """Parse ``{"dead_drops": [...]}``; raises MalformedInput on any shape error."""
    items = require_object(obj, "a dead-drop list").get("dead_drops")
    if not isinstance(items, list):
        raise MalformedInput("expected dead_drops as a JSON list")
    return [DeadDrop.from_json(kind, item) for item in items]


def dead_drop_list_json(dead_drops: Iterable[DeadDrop]) -> dict[str, Any]:
    return {"dead_drops": [dead_drop.to_json() for dead_drop in dead_drops]}


def needs_newer_keys(dead_drop: DeadDrop, keys: VerifiedKeys) -> bool:
    """Whether a journalist dead drop is newer than the key set: refresh keys first."""
    return dead_drop.body.epoch is not None and dead_drop.body.epoch > keys.max_epoch


# --- trial decryption ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserReply:
    """A reply a user found in a dead drop, and which recipient sent it."""

    dead_drop_id: int
    journalist_id: str
    message: J2UMessage


class UserTrialDecryptor:
    """Tries every entry of user dead drops against every verified journalist messaging key.

    Shared keys are computed once, so each entry costs one XSalsa20-Poly1305 check per key.
    """

    def __init__(self, user_key: EncryptionKeyPair, keys: VerifiedKeys) -> None:
        self._shared: list[tuple[str, bytes]] = []
        for journalist_id, journalist_keys in keys.of_role(KeyRole.JOURNALIST_MSG).items():
            for key in journalist_keys:
                try:
                    self._shared.append((journalist_id, shared_key(user_key, key.encryption_key())))
                except DecryptionFailed:
                    continue

    def open(self, dead_drop: DeadDrop) -> list[UserReply]:
        """Every reply in ``dead_drop`` for this user; the rest are left unread."""
        if dead_drop.body.kind is not DeadDropKind.USER:
            raise MalformedInput("not a user dead drop")
        replies = []
        for entry in dead_drop.body.entries():
            box: EncryptedJ2U = TwoPartyBox(J2U, entry)
            for journalist_id, shared in self._shared:
                try:
                    message = box.open_with(shared)
                except ProtocolError:
                    continue
                replies.append(UserReply(dead_drop.id, journalist_id, message))
                break
        return replies


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A user message a recipient found in a dead drop."""

    dead_drop_id: int
    message: U2JMessage


class JournalistTrialDecryptor:
    """Opens journalist dead-drop entries: the CoverNode's two-party box, then the user's
    sealed box, with each of the recipient's messaging keys."""

    def __init__(
        self,
        messaging_keys: Sequence[EncryptionKeyPair],
        covernode_keys: Iterable[PublicEncryptionKey],
    ) -> None:
        if not messaging_keys:
            raise KeyUnavailable("a recipient needs at least one messaging key pair")
        self._messaging_keys = list(messaging_keys)
        self._shared: list[bytes] = []
        for covernode_key in covernode_keys:
            for pair in self._messaging_keys:
                try:
                    self._shared.append(shared_key(pair, covernode_key))
                except DecryptionFailed:
                    continue

    def open(self, dead_drop: DeadDrop) -> list[ReceivedMessage]:
        """Every message in ``dead_drop`` addressed to these keys."""
        if dead_drop.body.kind is not DeadDropKind.JOURNALIST:
            raise MalformedInput("not a journalist dead drop")
        received = []
        for entry in dead_drop.body.entries():
            message = self.open_entry(TwoPartyBox(ENCRYPTED_U2J, entry))
            if message is not None:
                received.append(ReceivedMessage(dead_drop.id, message))
        return received

    def open_entry(self, entry: EncryptedC2J) -> U2JMessage | None:
        """The user message in one entry, or None when it is not for us (or filler)."""
        for shared in self._shared:
            try:
                sealed: AnonymousBox[U2JMessage] = entry.open_with(shared)
            except ProtocolError:
                continue
            for pair in self._messaging_keys:
                try:
                    return sealed.open(pair)
                except ProtocolError:
                    continue
            return None
        return None
