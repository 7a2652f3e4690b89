"""The client's private sending queue: fixed slots whose contents hide how many are real.

Every slot holds one ciphertext of the same size (typed by its codec) and a 16-byte hint.
A real message's hint is ``HMAC-SHA256(hint_key, message)[:16]``; a cover message's hint
is random. Only the holder of ``hint_key`` (kept in the vault) can tell them apart, so a
snapshot of the queue shows the same N full slots whether zero or N are real. Real
messages stay in order at the front; sending takes the head and refills the tail with
fresh cover, which needs no hint key: a queue read without one can send but not tell
real from cover, nor take a real message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nacl.utils

from quietline.protocol.boxes import Codec, RandomBytes
from quietline.protocol.errors import MalformedInput, MisuseError, SendingQueueFull

HINT_LEN = 16
HINT_KEY_LEN = 32
DEFAULT_SLOTS = 8


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueSlot(Generic[T]):
    hint: bytes
    message: T = field(repr=False)


class SendingQueue(Generic[T]):
    """N slots of ``codec``'s fixed-size messages, real ones first, the rest cover.

    ``hint_key`` is None when the queue was read without the vault: it can then only
    send (dequeue) and be written back.
    """

    def __init__(self, hint_key: bytes | None, codec: Codec[T], slots: list[QueueSlot[T]]) -> None:
        if hint_key is not None and len(hint_key) != HINT_KEY_LEN:
            raise MisuseError("the hint key must be 32 bytes")
        if not slots or any(len(s.hint) != HINT_LEN for s in slots):
            raise MisuseError(f"a sending queue needs slots of {codec.name} and a hint each")
        self._hint_key = hint_key
        self.codec = codec
        self._slots = slots

    @classmethod
    def filled_with_cover(
        cls,
        hint_key: bytes | None,
        codec: Codec[T],
        cover: Callable[[], T],
        size: int = DEFAULT_SLOTS,
        random_bytes: RandomBytes = nacl.utils.random,
    ) -> SendingQueue[T]:
        if size < 1:
            raise MisuseError("a sending queue needs at least one slot")
        return cls(hint_key, codec, [_cover_slot(codec, cover, random_bytes) for _ in range(size)])

    def __len__(self) -> int:
        return len(self._slots)

    def _key(self) -> bytes:
        if self._hint_key is None:
            raise MisuseError("this sending queue was read without its hint key")
        return self._hint_key

    def _is_real(self, slot: QueueSlot[T]) -> bool:
        return hmac.compare_digest(slot.hint, self._hint(slot.message))

    def _hint(self, message: T) -> bytes:
        encoded = self.codec.encode(message)
        return hmac.new(self._key(), encoded, hashlib.sha256).digest()[:HINT_LEN]

    def real_count(self) -> int:
        """How many real messages wait, counted from the head. Needs the hint key."""
        count = 0
        for slot in self._slots:
            if not self._is_real(slot):
                break
            count += 1
        return count

    def enqueue(self, message: T) -> None:
        """Put a real message behind the other real ones, replacing a cover slot.

        Raises SendingQueueFull when every slot is already real, and MisuseError without
        the hint key.
        """
        _check_size(self.codec, message, "queued messages")
        position = self.real_count()
        if position == len(self._slots):
            raise SendingQueueFull(
                f"all {len(self._slots)} slots hold unsent messages; wait for one to be sent"
            )
        self._slots[position] = QueueSlot(self._hint(message), message)

    def head(self) -> T:
        """The message the next :meth:`dequeue` takes (real or cover), left in place."""
        return self._slots[0].message

    def dequeue(self, cover: Callable[[], T], random_bytes: RandomBytes = nacl.utils.random) -> T:
        """The head of the queue (real or cover), refilling the tail with fresh cover."""
        refill = _cover_slot(self.codec, cover, random_bytes)
        head = self._slots.pop(0)
        self._slots.append(refill)
        return head.message

    def to_bytes(self) -> bytes:
        """The fixed-size serialisation: ``N x (hint ‖ message)``."""
        return b"".join(slot.hint + self.codec.encode(slot.message) for slot in self._slots)

    @classmethod
    def from_bytes(cls, hint_key: bytes | None, codec: Codec[T], raw: bytes) -> SendingQueue[T]:
        """Parse :meth:`to_bytes` output; raises MalformedInput on a wrong length."""
        width = HINT_LEN + codec.size
        if not raw or len(raw) % width:
            raise MalformedInput(f"a sending queue is a whole number of {width}-byte slots")
        slots = [
            QueueSlot(raw[i : i + HINT_LEN], codec.decode(raw[i + HINT_LEN : i + width]))
            for i in range(0, len(raw), width)
        ]
        return cls(hint_key, codec, slots)


def _check_size(codec: Codec[T], message: T, what: str) -> T:
    if len(codec.encode(message)) != codec.size:
        raise MisuseError(f"{what} for this queue must be {codec.size} bytes")
    return message


def _cover_slot(codec: Codec[T], cover: Callable[[], T], random_bytes: RandomBytes) -> QueueSlot[T]:
    return QueueSlot(random_bytes(HINT_LEN), _check_size(codec, cover(), "cover messages"))
