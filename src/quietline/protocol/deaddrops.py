"""Dead drops: signed batches of fixed-size entries that recipients trial-decrypt.

There is one type per direction. A :class:`UserDeadDrop` holds 553-byte J2U boxes for
sources; a :class:`JournalistDeadDrop` holds 633-byte C2J boxes for recipients and an
epoch. A CoverNode identity key signs ``SHA-256(data ‖ i64BE(created_at seconds))``,
with ``‖ i32BE(epoch)`` appended for journalist dead drops. Once the edge has stored one
it has an id: a :class:`DeadDrop` of that body. Readers accept the legacy ``cert``
field that older CoverDrop dead drops carry.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from quietline.protocol.boxes import AnonymousBox, shared_key
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import (
    C2J_ENCRYPTED_LEN,
    ED25519_SIGNATURE_LEN,
    J2U_ENCRYPTED_LEN,
    MAX_EPOCH,
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
    MisuseError,
    ProtocolError,
)
from quietline.protocol.jsonvalues import I64_MAX, require_int, require_list, require_object
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    SigningKeyPair,
)
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    ENCRYPTED_J2U,
    EncryptedC2J,
    EncryptedJ2U,
    J2UMessage,
    U2JMessage,
)
from quietline.protocol.verification import VerifiedKeys

MAX_DEAD_DROP_ENTRIES = 100_000


class DeadDropKind(enum.Enum):
    """Who reads a dead drop, which fixes its entry size and signed fields."""

    USER = "user"
    JOURNALIST = "journalist"

    @property
    def entry_size(self) -> int:
        return J2U_ENCRYPTED_LEN if self is DeadDropKind.USER else C2J_ENCRYPTED_LEN


def user_signed_digest(data: bytes, created_at: datetime) -> bytes:
    """The 32-byte digest a CoverNode identity key signs for a user dead drop."""
    return hashlib.sha256(data + i64be(unix_seconds(created_at))).digest()


def journalist_signed_digest(data: bytes, created_at: datetime, epoch: int) -> bytes:
    """The 32-byte digest a CoverNode identity key signs for a journalist dead drop."""
    return hashlib.sha256(data + i64be(unix_seconds(created_at)) + i32be(epoch)).digest()


def _check_shape(kind: DeadDropKind, data: bytes, signature: bytes) -> None:
    size = kind.entry_size
    if not data or len(data) % size or len(data) // size > MAX_DEAD_DROP_ENTRIES:
        raise MalformedInput(f"dead drop data must be a whole number of {size}-byte entries")
    if len(signature) != ED25519_SIGNATURE_LEN:
        raise MalformedInput("a dead drop signature must be 64 bytes")


def _verify(body: SignedDeadDrop, keys: VerifiedKeys) -> None:
    digest = body.signed_digest()
    for owners in keys.of_role(KeyRole.COVERNODE_ID).values():
        for key in owners:
            if body.created_at > key.not_valid_after:
                continue
            try:
                key.signing_key().verify(digest, body.signature)
            except BadSignature:
                continue
            return
    raise BadSignature("no valid CoverNode identity key signed this dead drop")


def _fields_json(created_at: datetime, data: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "created_at": format_rfc3339(created_at),
        "data": b64_encode(data),
        "signature": signature.hex(),
    }


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclass(frozen=True, slots=True)
class UserDeadDrop:
    """A signed user-facing dead drop (J2U entries), before or after the edge stored it."""

    KIND: ClassVar[DeadDropKind] = DeadDropKind.USER

    created_at: datetime
    data: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_shape(self.KIND, self.data, self.signature)

    def entries(self) -> list[EncryptedJ2U]:
        return [ENCRYPTED_J2U.decode(entry) for entry in _split(self.data, J2U_ENCRYPTED_LEN)]

    def signed_digest(self) -> bytes:
        return user_signed_digest(self.data, self.created_at)

    def verify(self, keys: VerifiedKeys) -> None:
        """Raise BadSignature unless a CoverNode identity key that was valid at
        ``created_at`` signed this dead drop."""
        _verify(self, keys)

    def published(self, dead_drop_id: int) -> DeadDrop[UserDeadDrop]:
        return DeadDrop(dead_drop_id, self)

    @classmethod
    def from_json(cls, obj: object) -> UserDeadDrop:
        """Parse ``{created_at, data, signature}``; raises MalformedInput."""
        fields = require_object(obj, "a dead drop")
        return cls(
            parse_rfc3339(fields.get("created_at")),
            b64_decode(fields.get("data")),
            hex_decode(fields.get("signature"), ED25519_SIGNATURE_LEN),
        )

    @classmethod
    def restore(
        cls, created_at: datetime, data: bytes, signature: bytes, epoch: int | None
    ) -> UserDeadDrop:
        """Rebuild one from a store's row (whose epoch column is empty for this kind)."""
        if epoch is not None:
            raise MalformedInput("a user dead drop carries no epoch")
        return cls(created_at, data, signature)

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self.created_at, self.data, self.signature)


@dataclass(frozen=True, slots=True)
class JournalistDeadDrop:
    """A signed journalist-facing dead drop (C2J entries) with the epoch of the key set
    the CoverNode held when it made it."""

    KIND: ClassVar[DeadDropKind] = DeadDropKind.JOURNALIST

    created_at: datetime
    data: bytes
    signature: bytes
    epoch: int

    def __post_init__(self) -> None:
        _check_shape(self.KIND, self.data, self.signature)
        if not isinstance(self.epoch, int) or not 0 <= self.epoch <= MAX_EPOCH:
            raise MalformedInput("a dead drop epoch must fit in a signed 32-bit integer")

    def entries(self) -> list[EncryptedC2J]:
        return [ENCRYPTED_C2J.decode(entry) for entry in _split(self.data, C2J_ENCRYPTED_LEN)]

    def signed_digest(self) -> bytes:
        return journalist_signed_digest(self.data, self.created_at, self.epoch)

    def verify(self, keys: VerifiedKeys) -> None:
        """Raise BadSignature unless a CoverNode identity key that was valid at
        ``created_at`` signed this dead drop."""
        _verify(self, keys)

    def published(self, dead_drop_id: int) -> DeadDrop[JournalistDeadDrop]:
        return DeadDrop(dead_drop_id, self)

    @classmethod
    def from_json(cls, obj: object) -> JournalistDeadDrop:
        """Parse ``{created_at, data, signature, epoch}``; raises MalformedInput."""
        fields = require_object(obj, "a dead drop")
        epoch = require_int(fields.get("epoch"), "a journalist dead drop's epoch", 0, MAX_EPOCH)
        return cls(
            parse_rfc3339(fields.get("created_at")),
            b64_decode(fields.get("data")),
            hex_decode(fields.get("signature"), ED25519_SIGNATURE_LEN),
            epoch,
        )

    @classmethod
    def restore(
        cls, created_at: datetime, data: bytes, signature: bytes, epoch: int | None
    ) -> JournalistDeadDrop:
        """Rebuild one from a store's row; raises MalformedInput without an epoch."""
        if epoch is None:
            raise MalformedInput("a journalist dead drop must carry an epoch")
        return cls(created_at, data, signature, epoch)

    def to_json(self) -> dict[str, Any]:
        return {**_fields_json(self.created_at, self.data, self.signature), "epoch": self.epoch}


SignedDeadDrop = UserDeadDrop | JournalistDeadDrop
B = TypeVar("B", UserDeadDrop, JournalistDeadDrop)

BODY_TYPES: dict[DeadDropKind, type[UserDeadDrop] | type[JournalistDeadDrop]] = {
    DeadDropKind.USER: UserDeadDrop,
    DeadDropKind.JOURNALIST: JournalistDeadDrop,
}


@dataclass(frozen=True, slots=True)
class DeadDrop(Generic[B]):
    """A published dead drop: the id the edge gave it, and the signed body."""

    id: int
    body: B

    @classmethod
    def from_json(cls, body_type: type[B], obj: object) -> DeadDrop[B]:
        """Parse one dead drop; raises MalformedInput on any shape error."""
        fields = require_object(obj, "a dead drop")
        dead_drop_id = require_int(fields.get("id"), "a dead drop id", 0, I64_MAX)
        return cls(dead_drop_id, body_type.from_json(fields))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.body.to_json()}


def parse_dead_drop_list(body_type: type[B], obj: object) -> list[DeadDrop[B]]:
    """Parse ``{"dead_drops": [...]}``; raises MalformedInput on any shape error."""
    items = require_list(require_object(obj, "a dead-drop list").get("dead_drops"), "dead_drops")
    return [DeadDrop.from_json(body_type, item) for item in items]


def dead_drop_list_json(dead_drops: Iterable[DeadDrop[Any]]) -> dict[str, Any]:
    return {"dead_drops": [dead_drop.to_json() for dead_drop in dead_drops]}


def _compact_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


_PAGE_HEAD = b'{"dead_drops":['
_PAGE_TAIL = b"]}"


def dead_drop_page(dead_drops: Iterable[DeadDrop[Any]], max_bytes: int) -> bytes:
    """The compact JSON of ``dead_drop_list_json`` for as many of ``dead_drops`` (taken in
    order, and no further than needed) as keep it within ``max_bytes``, and always the
    first: a reader continues after the last id it got."""
    parts: list[bytes] = []
    size = len(_PAGE_HEAD) + len(_PAGE_TAIL)
    for dead_drop in dead_drops:
        part = _compact_json(dead_drop.to_json())
        added = len(part) + (1 if parts else 0)
        if parts and size + added > max_bytes:
            break
        parts.append(part)
        size += added
    return _PAGE_HEAD + b",".join(parts) + _PAGE_TAIL


def _check_signer(created_at: datetime, identity_not_valid_after: datetime) -> None:
    if created_at > identity_not_valid_after:
        raise KeyUnavailable("the CoverNode identity key has expired and may no longer sign")


def _concatenate(entries: Sequence[EncryptedJ2U] | Sequence[EncryptedC2J]) -> bytes:
    if not entries:
        raise MisuseError("a dead drop needs at least one entry")
    return b"".join(entry.data for entry in entries)


def sign_user_dead_drop(
    entries: Sequence[EncryptedJ2U],
    created_at: datetime,
    *,
    identity: SigningKeyPair,
    identity_not_valid_after: datetime,
) -> UserDeadDrop:
    """Concatenate ``entries`` and sign them with a CoverNode identity key.

    Raises KeyUnavailable when the identity key is past its expiry at ``created_at``.
    """
    _check_signer(created_at, identity_not_valid_after)
    data = _concatenate(entries)
    return UserDeadDrop(created_at, data, identity.sign(user_signed_digest(data, created_at)))


def sign_journalist_dead_drop(
    entries: Sequence[EncryptedC2J],
    created_at: datetime,
    epoch: int,
    *,
    identity: SigningKeyPair,
    identity_not_valid_after: datetime,
) -> JournalistDeadDrop:
    """Concatenate ``entries`` and sign them, with ``epoch``, with a CoverNode identity key.

    Raises KeyUnavailable when the identity key is past its expiry at ``created_at``.
    """
    _check_signer(created_at, identity_not_valid_after)
    data = _concatenate(entries)
    signature = identity.sign(journalist_signed_digest(data, created_at, epoch))
    return JournalistDeadDrop(created_at, data, signature, epoch)


def needs_newer_keys(dead_drop: DeadDrop[JournalistDeadDrop], keys: VerifiedKeys) -> bool:
    """Whether a journalist dead drop is newer than the key set: refresh keys first."""
    return dead_drop.body.epoch > keys.max_epoch


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

    def open(self, dead_drop: DeadDrop[UserDeadDrop]) -> list[UserReply]:
        """Every reply in ``dead_drop`` for this user; the rest are left unread."""
        replies = []
        for box in dead_drop.body.entries():
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
        covernode_keys: Iterable[CoverNodeMessagingKey],
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

    def open(self, dead_drop: DeadDrop[JournalistDeadDrop]) -> list[ReceivedMessage]:
        """Every message in ``dead_drop`` addressed to these keys."""
        received = []
        for entry in dead_drop.body.entries():
            message = self.open_entry(entry)
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
