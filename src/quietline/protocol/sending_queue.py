"""The client's private sending queue: fixed slots whose contents hide how many are real.

Every slot holds one ciphertext of the same size and a 16-byte hint. A real message's
hint is ``HMAC-SHA256(hint_key, message)[:16]``; a cover message's hint is random. Only
the holder of ``hint_key`` (kept in the vault) can tell them apart, so a snapshot of the
queue shows the same N full slots whether zero or N are real. Real messages stay in
order at the front; sending takes the head and refills the tail with fresh cover.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import nacl.utils

from quietline.protocol.boxes import RandomBytes
from quietline.protocol.errors import MalformedInput, MisuseError, SendingQueueFull

HINT_LEN = 16
HINT_KEY_LEN = 32
DEFAULT_SLOTS = 8


@dataclass(frozen=True, slots=True)
class QueueSlot:
    hint: bytes
    message: bytes


class SendingQueue:
    """N slots of ``item_size``-byte ciphertexts, real ones first, the rest cover."""

    def __init__(self, hint_key: bytes, item_size: int, slots: list[QueueSlot]) -> None:
        if len(hint_key) != HINT_KEY_LEN:
            raise MisuseError("the hint key must be 32 bytes")
        if not slots or any(len(s.message) != item_size or len(s.hint) != HINT_LEN for s in slots):
            raise MalformedInput(f"every queue slot must hold {item_size} bytes and a hint")
        self._hint_key = hint_key
        self.item_size = item_size
        self._slots = slots

    @classmethod
    def filled_with_cover(
        cls,
        hint_key: bytes,
        item_size: int,
        cover: Callable[[], bytes],
        size: int = DEFAULT_SLOTS,
        random_bytes: RandomBytes = nacl.utils.random,
    ) -> SendingQueue:
        if size < 1:
            raise MisuseError("a sending queue needs at least one slot")
        slots = [_cover_slot(cover, item_size, random_bytes) for _ in range(size)]
        return cls(hint_key, item_size, slots)

    def __len__(self) -> int:
        return len(self._slots)

    def _is_real(self, slot: QueueSlot) -> bool:
        return hmac.compare_digest(slot.hint, self._hint(slot.message))

    def _hint(self, message: bytes) -> bytes:
        return hmac.new(self._hint_key, message, hashlib.sha256).digest()[:HINT_LEN]

    def real_count(self) -> int:
        """How many real messages wait, counted from the head."""
        count = 0
        for slot in self._slots:
            if not self._is_real(slot):
                break
            count += 1
        return count

    def enqueue(self, message: bytes) -> None:
        """Put a real message behind the other real ones, replacing a cover slot.

        Raises SendingQueueFull when every slot is already real, and MisuseError on a
        message of the wrong size.
        """
        if len(message) != self.item_size:
            raise MisuseError(f"queued messages must be {self.item_size} bytes")
        position = self.real_count()
        if position == len(self._slots):
            raise SendingQueueFull(
                f"all {len(self._slots)} slots hold unsent messages; wait for one to be sent"
            )
        self._slots[position] = QueueSlot(self._hint(message), message)

    def dequeue(
        self, cover: Callable[[], bytes], random_bytes: RandomBytes = nacl.utils.random
    ) -> bytes:
        """The head of the queue (real or cover), refilling the tail with fresh cover."""
        refill = _cover_slot(cover, self.item_size, random_bytes)
        head = self._slots.pop(0)
        self._slots.append(refill)
        return head.message

    def to_bytes(self) -> bytes:
        """The fixed-size serialisation: ``N x (hint ‖ message)``."""
        return b"".join(slot.hint + slot.message for slot in self._slots)

    @classmethod
    def from_bytes(cls, hint_key: bytes, item_size: int, raw: bytes) -> SendingQueue:
        """Parse :meth:`to_bytes` output; raises MalformedInput on a wrong length."""
        width = HINT_LEN + item_size
        if not raw or len(raw) % width:
            raise MalformedInput(f"a sending queue is a whole number of {width}-byte slots")
        slots = [
            QueueSlot(raw[i : i + HINT_LEN], raw[i + HINT_LEN : i + width])
            for i in range(0, len(raw), width)
        ]
        return cls(hint_key, item_size, slots)


def _cover_slot(cover: Callable[[], bytes], item_size: int, random_bytes: RandomBytes) -> QueueSlot:
    message = cover()
    if len(message) != item_size:
        raise MisuseError(f"cover messages for this queue must be {item_size} bytes")
    return QueueSlot(random_bytes(HINT_LEN), message)
