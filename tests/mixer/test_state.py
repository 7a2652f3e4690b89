"""Tests for quietline.mixer.state: the mixer's durable SQLite state.

Each test opens a store in a temporary folder, changes it, closes it and opens it again,
as a restarted mixer would, to check that what a transaction wrote survives and what a
failed transaction started does not.
"""

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.mixer.state import MixerStore
from quietline.protocol.api import Direction
from quietline.protocol.boxes import Codec
from quietline.protocol.covernode import Intake, Pending, Released, Verdict
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    UserDeadDrop,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
)
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.messages import ENCRYPTED_C2J, ENCRYPTED_J2U
from quietline.protocol.mixing import MixState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_A = b"\xaa" * 32
KEY_B = b"\xbb" * 32
# What a real message leaves in the mix, as the store writes it: four bytes here.
ITEM: Codec[bytes] = Codec("item", 4, bytes, bytes)


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


def journalist_dead_drop(entries: int = 2) -> JournalistDeadDrop:
    identity = SigningKeyPair.generate()
    return sign_journalist_dead_drop(
        [ENCRYPTED_C2J.decode(bytes([i]) * ENCRYPTED_C2J.size) for i in range(entries)],
        T0,
        7,
        identity=identity,
        identity_not_valid_after=T0 + timedelta(days=1),
    )


def user_dead_drop(entries: int = 2) -> UserDeadDrop:
    return sign_user_dead_drop(
        [ENCRYPTED_J2U.decode(bytes([i]) * ENCRYPTED_J2U.size) for i in range(entries)],
        T0,
        identity=SigningKeyPair.generate(),
        identity_not_valid_after=T0 + timedelta(days=1),
    )


def page(cursor: int, received: int, *real: int) -> Intake[bytes]:
    """A page whose real messages have the given seqs; payload and digest derive from seq."""
    return Intake(
        cursor,
        received,
        tuple(Pending(bytes([seq]) * 4) for seq in real),
        tuple((KEY_A, seq.to_bytes(32, "big")) for seq in real),
        tuple(Verdict.REAL for _ in real),
    )


def pending_of(state: MixState[Released[bytes]]) -> list[Pending[bytes]]:
    """The pending messages of a stored mix (a store never holds a filler slot)."""
    items = [item for item in state.pending if isinstance(item, Pending)]
    assert len(items) == len(state.pending)
    return items


def seen(store: MixerStore, digest: bytes) -> bool:
    """Whether ``digest`` is stored under any messaging key."""
    return any(stored == digest for _, stored in store.replay_digests())


class TestStart:
    def test_a_new_store_starts_empty_with_the_timeout_running_from_start(
        self, store: MixerStore
    ) -> None:
        for direction in Direction:
            assert store.cursor(direction) == 0
            assert store.mix_state(direction, ITEM) == MixState(0, T0, ())
        assert store.outbox() == []
        assert store.replay_digests() == []

    def test_a_later_start_keeps_the_mix_clock(self, store: MixerStore, path: Path) -> None:
        store.ingest(Direction.USER, page(3, 3), ITEM)
        store = reopen(store, path)
        assert store.mix_state(Direction.USER, ITEM) == MixState(3, T0, ())
        store.close()

    def test_an_unstarted_store_says_so(self, path: Path) -> None:
        with MixerStore(path) as fresh, pytest.raises(LookupError):
            fresh.mix_state(Direction.USER, ITEM)


class TestIngest:
    def test_a_page_is_stored_whole_and_survives_a_restart(
        self, store: MixerStore, path: Path
    ) -> None:
        store.ingest(Direction.USER, page(5, 5, 2, 4), ITEM)
        store = reopen(store, path)
        state = store.mix_state(Direction.USER, ITEM)
        assert state.received == 5
        assert [item.kept for item in pending_of(state)] == [b"\x02" * 4, b"\x04" * 4]
        assert store.cursor(Direction.USER) == 5
        assert sorted(store.replay_digests()) == [
            (KEY_A, (2).to_bytes(32, "big")),
            (KEY_A, (4).to_bytes(32, "big")),
        ]
        assert not seen(store, (3).to_bytes(32, "big"))
        # The other direction is untouched.
        assert store.cursor(Direction.JOURNALIST) == 0
        assert store.mix_state(Direction.JOURNALIST, ITEM).pending == ()
        assert store.counter("user_received") == 5
        store.close()

    def test_a_failed_page_leaves_nothing_behind(self, store: MixerStore) -> None:
        # The second pending row has no payload: the insert fails half-way through the page.
        raw: Codec[bytes] = Codec("raw", 4, lambda item: item, bytes)
        broken: Intake[bytes] = Intake(
            9,
            9,
            (Pending(b"x"), Pending(None)),  # type: ignore[arg-type]
            ((KEY_A, b"d"),),
            (Verdict.REAL, Verdict.REAL),
        )
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
            store.ingest(Direction.USER, broken, raw)
        assert store.cursor(Direction.USER) == 0
        assert store.mix_state(Direction.USER, ITEM) == MixState(0, T0, ())
        assert not seen(store, b"d")
        assert store.counter("user_received") == 0

    def test_the_cursor_never_moves_back(self, store: MixerStore) -> None:
        store.ingest(Direction.JOURNALIST, page(10, 1), ITEM)
        store.ingest(Direction.JOURNALIST, page(4, 1), ITEM)
        assert store.cursor(Direction.JOURNALIST) == 10


class TestReleaseAndOutbox:
    def test_release_moves_messages_into_the_outbox_in_one_go(
        self, store: MixerStore, path: Path
    ) -> None:
        store.ingest(Direction.USER, page(6, 6, 2, 3, 5), ITEM)
        pending = pending_of(store.mix_state(Direction.USER, ITEM))
        released = pending[:2]
        after: MixState[Released[bytes]] = MixState(0, T0 + timedelta(hours=1), (pending[2],))
        drop = journalist_dead_drop()
        outbox_id = store.release(Direction.USER, released, after, drop)
        store = reopen(store, path)
        assert store.mix_state(Direction.USER, ITEM) == after
        (entry,) = store.outbox()
        assert (entry.id, entry.direction, entry.real_count) == (outbox_id, Direction.USER, 2)
        assert entry.dead_drop == drop
        store.close()

    def test_each_outbox_entry_comes_back_as_its_own_kind(self, store: MixerStore) -> None:
        journalist = journalist_dead_drop()
        user = user_dead_drop()
        store.release(Direction.USER, [], MixState(0, T0, ()), journalist)
        store.release(Direction.JOURNALIST, [], MixState(0, T0, ()), user)
        assert [(e.direction, e.dead_drop) for e in store.outbox()] == [
            (Direction.USER, journalist),
            (Direction.JOURNALIST, user),
        ]

    def test_a_dead_drop_signed_again_replaces_the_old_one(self, store: MixerStore) -> None:
        store.release(Direction.JOURNALIST, [], MixState(0, T0, ()), user_dead_drop())
        (entry,) = store.outbox()
        fresh = user_dead_drop(entries=3)
        store.replace_dead_drop(entry.id, fresh)
        assert [(e.id, e.dead_drop) for e in store.outbox()] == [(entry.id, fresh)]

    def test_marking_twice_counts_once(self, store: MixerStore) -> None:
        store.release(Direction.JOURNALIST, [], MixState(0, T0, ()), user_dead_drop())
        (entry,) = store.outbox()
        store.mark_published(entry.id)
        store.mark_published(entry.id)
        assert store.counter("dead_drops_published") == 1
        assert store.outbox() == []

    def test_pending_items_do_not_show_their_payload(self) -> None:
        assert "secret" not in repr(Pending(b"secret"))


class TestReplayDigests:
    def test_digests_persist_and_are_forgotten_with_their_key(
        self, store: MixerStore, path: Path
    ) -> None:
        store.ingest(
            Direction.USER,
            Intake(
                2,
                2,
                (Pending(b"aaaa"), Pending(b"bbbb")),
                ((KEY_A, b"digest-a"), (KEY_B, b"digest-b")),
                (Verdict.REAL, Verdict.REAL),
            ),
            ITEM,
        )
        store = reopen(store, path)
        assert sorted(store.replay_digests()) == [(KEY_A, b"digest-a"), (KEY_B, b"digest-b")]
        assert store.forget_keys_except([KEY_B]) == 1
        assert store.replay_digests() == [(KEY_B, b"digest-b")]
        assert store.forget_keys_except([]) == 1
        assert store.replay_digest_count() == 0
        store.close()


class TestWhatASeizedDatabaseShows:
    MARK = b"QLRM"  # the bytes a real message leaves in the mix

    def _files(self, path: Path) -> list[Path]:
        return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def test_the_database_and_its_wal_and_shm_files_are_owner_only(self, tmp_path: Path) -> None:
        previous = os.umask(0o022)  # a permissive umask, as a service manager may set
        try:
            path = tmp_path / "mixer.sqlite3"
            with MixerStore(path) as store:
                store.start(T0)
                store.ingest(Direction.USER, page(3, 3, 2), ITEM)
                files = self._files(path)
                assert all(file.exists() for file in files)
                assert [stat.S_IMODE(file.stat().st_mode) for file in files] == [0o600] * 3
        finally:
            os.umask(previous)

    def test_a_database_left_readable_is_made_owner_only_when_opened(self, path: Path) -> None:
        with MixerStore(path):
            pass
        path.chmod(0o644)
        with MixerStore(path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_a_published_release_leaves_no_trace_of_its_messages(self, path: Path) -> None:
        with MixerStore(path) as store:
            store.start(T0)
            intake = Intake(4, 4, (Pending(self.MARK),), ((KEY_A, b"d" * 32),), ())
            store.ingest(Direction.USER, intake, ITEM)
            assert self.MARK in self._raw(path)  # what the test looks for is there at first
            pending = pending_of(store.mix_state(Direction.USER, ITEM))
            store.release(Direction.USER, pending, MixState(0, T0, ()), journalist_dead_drop())
            (entry,) = store.outbox()
            store.mark_published(entry.id)

            assert self.MARK not in self._raw(path)
            with closing(sqlite3.connect(path)) as db:
                for table in ("pending", "outbox"):
                    assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
                counters = dict(db.execute("SELECT name, value FROM counter").fetchall())
            assert "real_published" not in counters

    def _raw(self, path: Path) -> bytes:
        return b"".join(file.read_bytes() for file in self._files(path) if file.exists())

    def test_a_waiting_message_does_not_say_where_it_stood_in_the_edges_queue(
        self, path: Path
    ) -> None:
        # The edge (or whoever seized it) may know when each queue position arrived and
        # from where; a seized mixer must not add which of those positions were real.
        seq = 197
        with MixerStore(path) as store:
            store.start(T0)
            store.ingest(Direction.USER, page(seq, seq, seq), ITEM)
            assert store.pending_count(Direction.USER) == 1
        with closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT * FROM pending").fetchall()
        assert len(rows) == 1
        assert all(seq != value for value in rows[0]), rows

    def test_a_database_of_the_earlier_schema_keeps_its_messages_and_loses_their_seqs(
        self, path: Path
    ) -> None:
        with closing(sqlite3.connect(path)) as db, db:
            db.executescript(
                "CREATE TABLE pending (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " direction TEXT NOT NULL, seq INTEGER NOT NULL, payload BLOB NOT NULL);"
                "CREATE UNIQUE INDEX pending_by_seq ON pending (direction, seq);"
                "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " direction TEXT NOT NULL, dead_drop TEXT NOT NULL,"
                " real_count INTEGER NOT NULL, first_seq INTEGER);"
            )
            db.execute("INSERT INTO pending (direction, seq, payload) VALUES ('user', 197, ?)",
                       (b"\x07" * 4,))  # fmt: skip
        with MixerStore(path) as store:
            store.start(T0)
            state = store.mix_state(Direction.USER, ITEM)
            assert [item.kept for item in pending_of(state)] == [b"\x07" * 4]
            store.ingest(Direction.USER, page(2, 2, 2), ITEM)  # the new schema takes rows
            assert store.pending_count(Direction.USER) == 2
        with closing(sqlite3.connect(path)) as db:
            for table in ("pending", "outbox"):
                columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                assert not any("seq" in column for column in columns), columns
