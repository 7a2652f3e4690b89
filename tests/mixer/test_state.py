"""Tests for quietline.mixer.state: the mixer's durable SQLite state.

Each test opens a store in a temporary folder, changes it, closes it and opens it again,
as a restarted mixer would, to check that what a transaction wrote survives and what a
failed transaction started does not.
"""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.mixer.state import Direction, Ingest, MixerStore, PendingItem
from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop, sign_dead_drop
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.mixing import MixState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_A = b"\xaa" * 32
KEY_B = b"\xbb" * 32


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mixer.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[MixerStore]:
    with MixerStore(path) as opened:
        opened.start(T0)
        yield opened


def reopen(store: MixerStore, path: Path) -> MixerStore:
    store.close()
    again = MixerStore(path)
    again.start(T0 + timedelta(days=1))  # a later start changes nothing
    return again


def dead_drop(kind: DeadDropKind, entries: int = 2) -> UnpublishedDeadDrop:
    return sign_dead_drop(
        kind,
        [bytes([i]) * kind.entry_size for i in range(entries)],
        T0,
        7 if kind is DeadDropKind.JOURNALIST else None,
        identity=SigningKeyPair.generate(),
        identity_not_valid_after=T0 + timedelta(days=1),
    )


def page(cursor: int, received: int, *real: int) -> Ingest:
    """A page whose real messages have the given seqs; payload and digest derive from seq."""
    return Ingest(
        cursor,
        received,
        [(seq, bytes([seq]) * 4) for seq in real],
        [(KEY_A, seq.to_bytes(32, "big")) for seq in real],
    )


class TestStart:
    def test_a_new_store_starts_empty_with_the_timeout_running_from_start(
        self, store: MixerStore
    ) -> None:
        for direction in Direction:
            assert store.cursor(direction) == 0
            assert store.ack_point(direction) == 0
            assert store.mix_state(direction) == MixState(0, T0, ())
        assert store.outbox() == []

    def test_a_later_start_keeps_the_mix_clock(self, store: MixerStore, path: Path) -> None:
        store.ingest(Direction.USER, page(3, 3))
        store = reopen(store, path)
        assert store.mix_state(Direction.USER) == MixState(3, T0, ())
        store.close()

    def test_an_unstarted_store_says_so(self, path: Path) -> None:
        with MixerStore(path) as fresh, pytest.raises(LookupError):
            fresh.mix_state(Direction.USER)


class TestIngest:
    def test_a_page_is_stored_whole_and_survives_a_restart(
        self, store: MixerStore, path: Path
    ) -> None:
        store.ingest(Direction.USER, page(5, 5, 2, 4))
        store = reopen(store, path)
        state = store.mix_state(Direction.USER)
        assert state.received == 5
        assert [(item.seq, item.payload) for item in state.pending] == [
            (2, b"\x02" * 4),
            (4, b"\x04" * 4),
        ]
        assert store.cursor(Direction.USER) == 5
        assert store.seen((2).to_bytes(32, "big"))
        assert not store.seen((3).to_bytes(32, "big"))
        # The other direction is untouched.
        assert store.cursor(Direction.JOURNALIST) == 0
        assert store.mix_state(Direction.JOURNALIST).pending == ()
        assert store.counter("user_received") == 5
        store.close()

    def test_a_failed_page_leaves_nothing_behind(self, store: MixerStore) -> None:
        # The second pending row has no payload: the insert fails half-way through the page.
        broken = Ingest(9, 9, [(7, b"x"), (8, None)], [(KEY_A, b"d")])  # type: ignore[list-item]
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
            store.ingest(Direction.USER, broken)
        assert store.cursor(Direction.USER) == 0
        assert store.mix_state(Direction.USER) == MixState(0, T0, ())
        assert not store.seen(b"d")

    def test_the_cursor_never_moves_back(self, store: MixerStore) -> None:
        store.ingest(Direction.JOURNALIST, page(10, 1))
        store.ingest(Direction.JOURNALIST, page(4, 1))
        assert store.cursor(Direction.JOURNALIST) == 10


class TestReleaseAndOutbox:
    def test_release_moves_messages_into_the_outbox_in_one_go(
        self, store: MixerStore, path: Path
    ) -> None:
        store.ingest(Direction.USER, page(6, 6, 2, 3, 5))
        pending = store.mix_state(Direction.USER).pending
        released = pending[:2]
        after = MixState(0, T0 + timedelta(hours=1), pending[2:])
        drop = dead_drop(DeadDropKind.JOURNALIST)
        outbox_id = store.release(Direction.USER, released, after, drop)
        store = reopen(store, path)
        assert store.mix_state(Direction.USER) == after
        (entry,) = store.outbox()
        assert (entry.id, entry.direction, entry.real_count) == (outbox_id, Direction.USER, 2)
        assert entry.dead_drop == drop
        store.close()

    def test_the_edge_is_acknowledged_only_below_what_no_stored_dead_drop_holds(
        self, store: MixerStore
    ) -> None:
        store.ingest(Direction.USER, page(6, 6, 2, 3, 5))
        assert store.ack_point(Direction.USER) == 1  # seq 2 still waits in the mix
        pending = store.mix_state(Direction.USER).pending
        store.release(
            Direction.USER,
            pending[:2],
            MixState(0, T0, pending[2:]),
            dead_drop(DeadDropKind.JOURNALIST),
        )
        assert store.ack_point(Direction.USER) == 1  # seqs 2, 3 sit in an unpublished drop
        (entry,) = store.outbox()
        store.mark_published(entry.id)
        assert store.ack_point(Direction.USER) == 4  # seq 5 still waits
        store.release(
            Direction.USER, pending[2:], MixState(0, T0, ()), dead_drop(DeadDropKind.JOURNALIST)
        )
        (entry,) = store.outbox()
        store.mark_published(entry.id)
        assert store.ack_point(Direction.USER) == 6
        assert store.counter("dead_drops_published") == 2
        assert store.counter("real_published") == 3
        assert store.ack_point(Direction.JOURNALIST) == 0

    def test_a_cover_only_dead_drop_does_not_hold_the_queue(self, store: MixerStore) -> None:
        store.ingest(Direction.JOURNALIST, page(8, 8))
        store.release(Direction.JOURNALIST, [], MixState(0, T0, ()), dead_drop(DeadDropKind.USER))
        assert store.ack_point(Direction.JOURNALIST) == 8

    def test_a_dead_drop_signed_again_replaces_the_old_one(self, store: MixerStore) -> None:
        store.release(Direction.JOURNALIST, [], MixState(0, T0, ()), dead_drop(DeadDropKind.USER))
        (entry,) = store.outbox()
        fresh = dead_drop(DeadDropKind.USER, entries=3)
        store.replace_dead_drop(entry.id, fresh)
        assert [(e.id, e.dead_drop) for e in store.outbox()] == [(entry.id, fresh)]

    def test_marking_twice_counts_once(self, store: MixerStore) -> None:
        store.release(Direction.JOURNALIST, [], MixState(0, T0, ()), dead_drop(DeadDropKind.USER))
        (entry,) = store.outbox()
        store.mark_published(entry.id)
        store.mark_published(entry.id)
        assert store.counter("dead_drops_published") == 1
        assert store.outbox() == []

    def test_pending_items_do_not_show_their_payload(self) -> None:
        assert "secret" not in repr(PendingItem(1, 2, b"secret"))


class TestReplayDigests:
    def test_digests_persist_and_are_forgotten_with_their_key(
        self, store: MixerStore, path: Path
    ) -> None:
        store.ingest(
            Direction.USER,
            Ingest(2, 2, [(1, b"a"), (2, b"b")], [(KEY_A, b"digest-a"), (KEY_B, b"digest-b")]),
        )
        store = reopen(store, path)
        assert store.seen(b"digest-a")
        assert store.seen(b"digest-b")
        assert store.forget_keys_except([KEY_B]) == 1
        assert not store.seen(b"digest-a")
        assert store.seen(b"digest-b")
        assert store.forget_keys_except([]) == 1
        assert store.replay_digest_count() == 0
        store.close()
