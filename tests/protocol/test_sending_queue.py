"""Tests for quietline.protocol.sending_queue: the client's fixed-size private sending queue.

The queue always holds N slots of the same size; real messages wait in order at the
front and are sent first, the rest is cover. Its serialisation is exactly
``N x (16 + codec.size)`` bytes whether 0 or N slots are real, and without the hint key
real and cover slots look alike (every hint is 16 uniformly random-looking bytes); a
queue read without its hint key can still send, but neither count nor take real messages.
Most tests queue raw bytes through a plain codec; the last one queues typed U2C boxes.
"""

import hashlib
import os
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.boxes import Codec
from quietline.protocol.constants import U2C_ENCRYPTED_LEN
from quietline.protocol.errors import MalformedInput, MisuseError, SendingQueueFull
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    ENCRYPTED_U2C,
    EncryptedU2C,
    encrypt_cover_u2c,
    encrypt_u2c,
)
from quietline.protocol.sending_queue import (
    DEFAULT_SLOTS,
    HINT_KEY_LEN,
    HINT_LEN,
    SendingQueue,
)

ITEM = U2C_ENCRYPTED_LEN  # 773: the queue holds U2C messages in the client
HINT_KEY = hashlib.sha256(b"quietline test hint key").digest()
OTHER_HINT_KEY = hashlib.sha256(b"another vault's hint key").digest()


def raw_items(size: int) -> Codec[bytes]:
    """A codec of plain ``size``-byte strings, to queue bytes an observer can recognise."""
    return Codec("item", size, bytes, bytes)


ITEMS = raw_items(ITEM)


def random_cover() -> bytes:
    return os.urandom(ITEM)


def message(label: str, size: int = ITEM) -> bytes:
    """A recognisable real message of ``size`` bytes."""
    return hashlib.shake_256(label.encode()).digest(size)


def new_queue(size: int = DEFAULT_SLOTS, item_size: int = ITEM) -> SendingQueue[bytes]:
    return SendingQueue.filled_with_cover(
        HINT_KEY, raw_items(item_size), lambda: os.urandom(item_size), size
    )


def slots(raw: bytes, item_size: int = ITEM) -> list[tuple[bytes, bytes]]:
    """Split a serialised queue into (hint, message) pairs, as an observer could."""
    width = HINT_LEN + item_size
    return [
        (raw[i : i + HINT_LEN], raw[i + HINT_LEN : i + width]) for i in range(0, len(raw), width)
    ]


class TestFilledWithCover:
    def test_default_slot_count_and_all_cover(self) -> None:
        queue = SendingQueue.filled_with_cover(HINT_KEY, ITEMS, random_cover)
        assert len(queue) == DEFAULT_SLOTS
        assert queue.real_count() == 0
        assert len(queue.to_bytes()) == DEFAULT_SLOTS * (HINT_LEN + ITEM)

    @pytest.mark.parametrize("size", [1, 3, 20])
    def test_given_slot_count(self, size: int) -> None:
        queue = new_queue(size)
        assert len(queue) == size
        assert queue.real_count() == 0

    def test_uses_the_cover_and_random_callables(self) -> None:
        covers = iter([bytes([i]) * ITEM for i in range(3)])
        queue = SendingQueue.filled_with_cover(
            HINT_KEY, ITEMS, lambda: next(covers), 3, random_bytes=lambda n: b"\xaa" * n
        )
        assert slots(queue.to_bytes()) == [
            (b"\xaa" * HINT_LEN, bytes([i]) * ITEM) for i in range(3)
        ]

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_hint_key_must_be_32_bytes(self, length: int) -> None:
        assert HINT_KEY_LEN == 32
        with pytest.raises(MisuseError):
            SendingQueue.filled_with_cover(bytes(length), ITEMS, random_cover)


class TestEnqueueDequeue:
    def test_enqueue_puts_real_messages_in_order_at_the_front(self) -> None:
        queue = new_queue()
        first, second, third = message("a"), message("b"), message("c")
        for item in (first, second, third):
            queue.enqueue(item)
        assert queue.real_count() == 3
        assert len(queue) == DEFAULT_SLOTS
        assert [m for _, m in slots(queue.to_bytes())[:3]] == [first, second, third]

    def test_dequeue_returns_real_in_fifo_order_then_cover(self) -> None:
        queue = new_queue()
        real = [message(f"m{i}") for i in range(3)]
        for item in real:
            queue.enqueue(item)
        sent = [queue.dequeue(random_cover) for _ in range(DEFAULT_SLOTS + 2)]
        assert sent[:3] == real
        assert all(len(m) == ITEM for m in sent)
        assert not set(sent[3:]) & set(real)
        assert queue.real_count() == 0
        assert len(queue) == DEFAULT_SLOTS

    def test_real_count_falls_as_messages_are_sent(self) -> None:
        queue = new_queue()
        queue.enqueue(message("a"))
        queue.enqueue(message("b"))
        assert queue.dequeue(random_cover) == message("a")
        assert queue.real_count() == 1
        assert queue.dequeue(random_cover) == message("b")
        assert queue.real_count() == 0

    def test_enqueue_after_a_send_goes_behind_the_waiting_messages(self) -> None:
        queue = new_queue()
        queue.enqueue(message("a"))
        queue.enqueue(message("b"))
        queue.dequeue(random_cover)
        queue.enqueue(message("c"))
        assert [queue.dequeue(random_cover) for _ in range(2)] == [message("b"), message("c")]

    def test_dequeue_refills_the_tail_with_fresh_cover(self) -> None:
        queue = SendingQueue.filled_with_cover(HINT_KEY, ITEMS, random_cover, 2)
        fresh = b"\x55" * ITEM
        queue.dequeue(lambda: fresh, random_bytes=lambda n: b"\x77" * n)
        assert slots(queue.to_bytes())[-1] == (b"\x77" * HINT_LEN, fresh)
        assert queue.real_count() == 0

    def test_a_full_queue_refuses_more_and_stays_unchanged(self) -> None:
        queue = new_queue(4)
        real = [message(f"m{i}") for i in range(4)]
        for item in real:
            queue.enqueue(item)
        assert queue.real_count() == 4
        before = queue.to_bytes()
        with pytest.raises(SendingQueueFull):
            queue.enqueue(message("one too many"))
        assert queue.to_bytes() == before
        assert issubclass(SendingQueueFull, MisuseError)
        # Sending one frees a slot at the tail.
        assert queue.dequeue(random_cover) == real[0]
        queue.enqueue(message("m4"))
        assert [queue.dequeue(random_cover) for _ in range(4)] == [*real[1:], message("m4")]

    @pytest.mark.parametrize("size", [0, 1, ITEM - 1, ITEM + 1, 2 * ITEM])
    def test_wrong_size_message_is_misuse(self, size: int) -> None:
        queue = new_queue()
        before = queue.to_bytes()
        with pytest.raises(MisuseError) as raised:
            queue.enqueue(bytes(size))
        assert not isinstance(raised.value, SendingQueueFull)
        assert queue.to_bytes() == before

    def test_dequeue_refuses_wrong_size_cover(self) -> None:
        queue = new_queue()
        with pytest.raises(MisuseError):
            queue.dequeue(lambda: bytes(ITEM - 43))  # e.g. a 730-byte J2C cover
        assert len(queue.to_bytes()) == DEFAULT_SLOTS * (HINT_LEN + ITEM)


class TestSerialisation:
    @settings(max_examples=60, deadline=None)
    @given(
        size=st.integers(1, 12),
        item_size=st.sampled_from([1, 32, ITEM]),
        data=st.data(),
    )
    def test_always_n_slots_of_fixed_width(
        self, size: int, item_size: int, data: st.DataObject
    ) -> None:
        queue = new_queue(size, item_size)
        real = data.draw(st.integers(0, size))
        for i in range(real):
            queue.enqueue(message(f"m{i}", item_size))
        assert queue.real_count() == real
        assert len(queue.to_bytes()) == size * (HINT_LEN + item_size)

    @settings(max_examples=40, deadline=None)
    @given(real=st.integers(0, DEFAULT_SLOTS), sent=st.integers(0, 2 * DEFAULT_SLOTS))
    def test_round_trip_preserves_real_count_and_order(self, real: int, sent: int) -> None:
        queue = new_queue()
        waiting = [message(f"m{i}") for i in range(real)]
        for item in waiting:
            queue.enqueue(item)
        for _ in range(sent):
            queue.dequeue(random_cover)
        waiting = waiting[sent:]

        raw = queue.to_bytes()
        restored = SendingQueue.from_bytes(HINT_KEY, ITEMS, raw)
        assert restored.to_bytes() == raw
        assert restored.real_count() == len(waiting) == queue.real_count()
        assert [restored.dequeue(random_cover) for _ in range(len(waiting))] == waiting
        assert restored.real_count() == 0

    def test_with_another_hint_key_every_slot_looks_like_cover(self) -> None:
        queue = new_queue()
        for i in range(DEFAULT_SLOTS):
            queue.enqueue(message(f"m{i}"))
        assert queue.real_count() == DEFAULT_SLOTS
        stranger = SendingQueue.from_bytes(OTHER_HINT_KEY, ITEMS, queue.to_bytes())
        assert stranger.real_count() == 0
        assert len(stranger) == DEFAULT_SLOTS

    @pytest.mark.parametrize(
        "length",
        [0, 1, HINT_LEN, HINT_LEN + ITEM - 1, HINT_LEN + ITEM + 1, 3 * (HINT_LEN + ITEM) + 5],
    )
    def test_from_bytes_rejects_wrong_lengths(self, length: int) -> None:
        with pytest.raises(MalformedInput):
            SendingQueue.from_bytes(HINT_KEY, ITEMS, bytes(length))

    def test_from_bytes_accepts_any_whole_number_of_slots(self) -> None:
        queue = SendingQueue.from_bytes(HINT_KEY, ITEMS, bytes(3 * (HINT_LEN + ITEM)))
        assert len(queue) == 3
        assert queue.real_count() == 0


class TestWithoutTheKey:
    """What a snapshot shows to someone who has the device but not the vault's hint key."""

    @settings(max_examples=30, deadline=None)
    @given(real=st.integers(1, DEFAULT_SLOTS))
    def test_a_queue_with_real_messages_has_the_shape_of_an_empty_one(self, real: int) -> None:
        empty = new_queue()
        used = new_queue()
        for _ in range(real):
            used.enqueue(os.urandom(ITEM))
        empty_raw, used_raw = empty.to_bytes(), used.to_bytes()
        assert len(empty_raw) == len(used_raw)
        for (empty_hint, empty_msg), (used_hint, used_msg) in zip(
            slots(empty_raw), slots(used_raw), strict=True
        ):
            assert len(empty_hint) == len(used_hint) == HINT_LEN
            assert len(empty_msg) == len(used_msg) == ITEM
        # Every hint in a snapshot is distinct: no marker value is shared by real slots.
        assert len({hint for hint, _ in slots(used_raw)}) == DEFAULT_SLOTS

    def test_real_and_cover_hints_are_alike_byte_for_byte(self) -> None:
        # Pool the hint bytes of many real slots and of many cover slots; both must look
        # uniform (chi-square over 256 byte values, p = 0.001 critical value ~330.5).
        rng = random.Random(99)
        real_bytes: Counter[int] = Counter()
        cover_bytes: Counter[int] = Counter()
        for _ in range(100):
            queue = SendingQueue.filled_with_cover(
                HINT_KEY, ITEMS, lambda: rng.randbytes(ITEM), 8, random_bytes=rng.randbytes
            )
            for _ in range(4):
                queue.enqueue(rng.randbytes(ITEM))
            for index, (hint, _) in enumerate(slots(queue.to_bytes())):
                (real_bytes if index < 4 else cover_bytes).update(hint)
        for pooled in (real_bytes, cover_bytes):
            total = sum(pooled.values())
            assert total == 100 * 4 * HINT_LEN
            expected = total / 256
            statistic = sum((pooled[b] - expected) ** 2 / expected for b in range(256))
            assert statistic < 330.5

    def test_the_hint_depends_on_the_key_and_the_message(self) -> None:
        hints = set()
        for key in (HINT_KEY, OTHER_HINT_KEY):
            for label in ("a", "b"):
                queue = SendingQueue.filled_with_cover(key, ITEMS, random_cover, 1)
                queue.enqueue(message(label))
                hints.add(slots(queue.to_bytes())[0][0])
        assert len(hints) == 4


class TestReadWithoutTheHintKey:
    """A queue read without the vault (to send on schedule) sends, but cannot tell or take."""

    def test_it_sends_the_same_messages_in_the_same_order(self) -> None:
        queue = new_queue(4)
        real = [message("a"), message("b")]
        for item in real:
            queue.enqueue(item)
        raw = queue.to_bytes()

        keyless = SendingQueue.from_bytes(None, ITEMS, raw)

        assert keyless.to_bytes() == raw
        sent = [keyless.dequeue(random_cover) for _ in range(4)]
        assert sent == [m for _, m in slots(raw)]
        assert sent[:2] == real
        assert len(keyless.to_bytes()) == len(raw)

    def test_it_cannot_count_or_take_real_messages(self) -> None:
        keyless = SendingQueue.from_bytes(None, ITEMS, new_queue(4).to_bytes())
        before = keyless.to_bytes()

        with pytest.raises(MisuseError) as counting:
            keyless.real_count()
        with pytest.raises(MisuseError) as taking:
            keyless.enqueue(message("a"))

        assert not isinstance(taking.value, SendingQueueFull)
        assert not isinstance(counting.value, SendingQueueFull)
        assert keyless.to_bytes() == before

    def test_a_fresh_queue_can_be_made_without_the_key(self) -> None:
        keyless = SendingQueue.filled_with_cover(None, ITEMS, random_cover, 3)

        assert len(keyless.to_bytes()) == 3 * (HINT_LEN + ITEM)
        assert len(keyless.dequeue(random_cover)) == ITEM


def test_queue_of_real_u2c_messages() -> None:
    """With CoverDrop's messages: the real U2C leaves first, then cover, all 773 bytes."""
    covernode = EncryptionKeyPair.generate()
    journalist = EncryptionKeyPair.generate()
    user = EncryptionKeyPair.generate()
    wrapping = [CoverNodeMessagingKey.of(covernode)] * 2

    def cover() -> EncryptedU2C:
        return encrypt_cover_u2c(wrapping)

    queue = SendingQueue.filled_with_cover(HINT_KEY, ENCRYPTED_U2C, cover, 4)
    real = encrypt_u2c(
        wrapping,
        recipient_id="journalist_queue",
        recipient_key=JournalistMessagingKey.of(journalist),
        reply_key=ReplyKey.of(user),
        text="hello from the queue",
    )
    queue.enqueue(real)
    assert len(queue.to_bytes()) == 4 * (HINT_LEN + ITEM)
    restored = SendingQueue.from_bytes(HINT_KEY, ENCRYPTED_U2C, queue.to_bytes())
    assert restored.real_count() == 1
    sent = [restored.dequeue(cover) for _ in range(3)]
    assert sent[0] == real
    assert all(len(box.data) == ITEM for box in sent)
    opened = [box.open(covernode) for box in sent]
    assert [u2c.tag.is_cover for u2c in opened] == [False, True, True]
    assert opened[0].payload.open(journalist).text.text() == "hello from the queue"
