"""The mixer's durable state: one SQLite file, changed only in whole transactions.

What must survive a crash at any instant, so that no real message is lost or delivered
twice: how far each edge queue has been read (the cursor), the real messages waiting in
each mix, the mix counters, the replay digests of every real message seen, and the
signed dead drops not yet stored at the edge (the outbox). Each step of the mixer
changes these together or not at all.

The edge queue is acknowledged up to the cursor: once a page is taken in, this store holds
every real message of it (pending, then in the outbox until the edge stores its dead
drop), so the edge's copy is no longer needed. Acknowledging less (holding the queue below
the oldest real message still waiting) would show the edge which submission was real.

Nothing more is kept than that needs: a waiting message's row does not say where it stood
in the edge's queue, and a released message's row is gone once its dead drop
is stored at the edge, and its bytes with it (SQLite overwrites deleted content, and the
write-ahead log is emptied after each release and publication), so a seized database
does not say which queued submissions were real. The file and its WAL and shared-memory
files are readable by their owner only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from quietline.protocol.api import Direction
from quietline.protocol.boxes import Codec
from quietline.protocol.covernode import Intake, Pending, Released
from quietline.protocol.deaddrops import BODY_TYPES, SignedDeadDrop
from quietline.protocol.encoding import format_rfc3339, parse_rfc3339
from quietline.protocol.errors import MisuseError
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.mixing import MixState
from quietline.sqlite_files import in_wal_mode

K = TypeVar("K")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (
    direction TEXT PRIMARY KEY, after INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mix (
    direction TEXT PRIMARY KEY, received INTEGER NOT NULL, last_release TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    direction TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS replay (
    digest BLOB NOT NULL, messaging_key BLOB NOT NULL, PRIMARY KEY (digest, messaging_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replay_by_key ON replay (messaging_key);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    direction TEXT NOT NULL,
    dead_drop TEXT NOT NULL,
    real_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A signed dead drop waiting to be stored at the edge."""

    id: int
    direction: Direction
    dead_drop: SignedDeadDrop
    real_count: int


class MixerStore:
    """The mixer's SQLite state. Not thread-safe: one mixer, one thread, one store."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
            _owner_only(path)
        # SQLite makes its WAL and shared-memory files with the database file's mode; the
        # umask covers a moment when the main file is not there yet.
        umask = os.umask(0o077)
        try:
            self._db = in_wal_mode(sqlite3.connect(str(path), isolation_level=None))
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
            self._upgrade()
        finally:
            os.umask(umask)

    def _upgrade(self) -> None:
        """Bring a database made by an earlier version to this schema, keeping its data:
        waiting messages once recorded their queue sequence number (and outbox entries the
        first one's), which says which submissions were real."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
        if "seq" not in columns:
            return
        with self._transaction() as db:
            db.execute("DROP INDEX IF EXISTS pending_by_seq")
            db.execute("ALTER TABLE pending DROP COLUMN seq")
            if "first_seq" in {row[1] for row in db.execute("PRAGMA table_info(outbox)")}:
                db.execute("ALTER TABLE outbox DROP COLUMN first_seq")
        self._forget_deleted()

    def close(self) -> None:
        self._db.close()

    def _forget_deleted(self) -> None:
        """Empty the write-ahead log, which still holds the pages as they were before rows
        were deleted (secure_delete has zeroed them in the database itself)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> MixerStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _scalar(self, sql: str, *args: object) -> int | None:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # --- the mixes --------------------------------------------------------------------

    def start(self, now: datetime) -> None:
        """Create the cursors and mix counters the first time; the mix timeout runs from
        ``now``. Does nothing on later starts."""
        with self._transaction() as db:
            for direction in Direction:
                db.execute(
                    "INSERT OR IGNORE INTO cursor (direction, after) VALUES (?, 0)",
                    (direction.value,),
                )
                db.execute(
                    "INSERT OR IGNORE INTO mix (direction, received, last_release)"
                    " VALUES (?, 0, ?)",
                    (direction.value, format_rfc3339(now)),
                )

    def cursor(self, direction: Direction) -> int:
        """The highest queue seq already taken in (0 before the first pull)."""
        return self._scalar("SELECT after FROM cursor WHERE direction = ?", direction.value) or 0

    def restart_cursor(self, direction: Direction) -> None:
        """Read the edge's queue of ``direction`` again from its start: it is newer than
        the cursor (a replaced or restored queue). What was taken in stays; anything read
        again is a replay the digests catch, or cover."""
        with self._transaction() as db:
            db.execute("UPDATE cursor SET after = 0 WHERE direction = ?", (direction.value,))

    def mix_state(self, direction: Direction, kept: Codec[K]) -> MixState[Released[K]]:
        """The persisted mix, pending messages oldest first, each decoded with ``kept``.
        Call :meth:`start` first."""
        row = self._db.execute(
            "SELECT received, last_release FROM mix WHERE direction = ?", (direction.value,)
        ).fetchone()
        if row is None:
            raise LookupError("the mixer store was not started")
        pending: tuple[Released[K], ...] = tuple(
            Pending(kept.decode(bytes(payload)))
            for (payload,) in self._db.execute(
                "SELECT payload FROM pending WHERE direction = ? ORDER BY id",
                (direction.value,),
            )
        )
        return MixState(int(row[0]), parse_rfc3339(row[1]), pending)

    def replay_digests(self) -> list[tuple[bytes, bytes]]:
        """Every (messaging key, replay digest) pair of the real messages taken in."""
        rows = self._db.execute("SELECT messaging_key, digest FROM replay")
        return [(bytes(key), bytes(digest)) for key, digest in rows]

    def ingest(self, direction: Direction, intake: Intake[K], kept: Codec[K]) -> None:
        """Store a page taken into a lane: new real messages (encoded with ``kept``), their
        replay digests, the threshold count and the advanced cursor, in one transaction."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO pending (direction, payload) VALUES (?, ?)",
                [(direction.value, kept.encode(item.kept)) for item in intake.real],
            )
            db.executemany(
                "INSERT OR IGNORE INTO replay (messaging_key, digest) VALUES (?, ?)",
                intake.digests,
            )
            db.execute(
                "UPDATE mix SET received = received + ? WHERE direction = ?",
                (intake.received, direction.value),
            )
            db.execute(
                "UPDATE cursor SET after = max(after, ?) WHERE direction = ?",
                (intake.cursor, direction.value),
            )
            self._bump(db, f"{direction.value}_received", intake.received)

    def release(
        self,
        direction: Direction,
        released: Iterable[Pending[K]],
        state: MixState[Released[K]],
        dead_drop: SignedDeadDrop,
    ) -> int:
        """Put a signed dead drop in the outbox, remove the messages it holds from the mix
        and store the mix counters after the release, in one transaction. Returns the
        outbox id."""
        items = list(released)
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (direction, dead_drop, real_count) VALUES (?, ?, ?)",
                (direction.value, json.dumps(dead_drop.to_json()), len(items)),
            )
            # The mix releases its oldest real inputs first, and the rows are in arrival order.
            db.execute(
                "DELETE FROM pending WHERE id IN"
                " (SELECT id FROM pending WHERE direction = ? ORDER BY id LIMIT ?)",
                (direction.value, len(items)),
            )
            left = self._scalar("SELECT count(*) FROM pending WHERE direction = ?", direction.value)
            if left != len(state.pending):
                raise MisuseError(
                    f"a release left {left} messages pending, not {len(state.pending)}"
                )
            db.execute(
                "UPDATE mix SET received = ?, last_release = ? WHERE direction = ?",
                (state.received, format_rfc3339(state.last_release), direction.value),
            )
            outbox_id = int(cursor.lastrowid or 0)
        self._forget_deleted()
        return outbox_id

    # --- the outbox -------------------------------------------------------------------

    def outbox(self) -> list[OutboxEntry]:
        """Signed dead drops not yet stored at the edge, oldest first."""
        entries = []
        for entry_id, direction, document, real_count in self._db.execute(
            "SELECT id, direction, dead_drop, real_count FROM outbox ORDER BY id"
        ):
            queue = Direction(direction)
            dead_drop = BODY_TYPES[queue.dead_drop_kind].from_json(load_json(document))
            entries.append(OutboxEntry(entry_id, queue, dead_drop, real_count))
        return entries

    def replace_dead_drop(self, entry_id: int, dead_drop: SignedDeadDrop) -> None:
        """Swap an outbox entry's dead drop for one signed again (the same entries)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET dead_drop = ? WHERE id = ?",
                (json.dumps(dead_drop.to_json()), entry_id),
            )

    def mark_published(self, entry_id: int) -> None:
        """The edge stored this dead drop: drop it from the outbox and count it (how many
        real messages it held is not counted: that is nobody's business once it is out)."""
        with self._transaction() as db:
            if db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,)).rowcount == 0:
                return
            self._bump(db, "dead_drops_published", 1)
        self._forget_deleted()

    # --- replay digests and counters --------------------------------------------------

    def forget_keys_except(self, live_keys: Iterable[bytes]) -> int:
        """Forget the replay digests of every messaging key not in ``live_keys`` (deleted
        keys open nothing, so their replays cannot get in). Returns how many went."""
        keep = list(live_keys)
        marks = ",".join("?" * len(keep))
        with self._transaction() as db:
            sql = "DELETE FROM replay"
            if keep:
                sql += f" WHERE messaging_key NOT IN ({marks})"  # only ? marks are formatted in
            return db.execute(sql, keep).rowcount

    def replay_digest_count(self) -> int:
        return self._scalar("SELECT count(*) FROM replay") or 0

    def pending_count(self, direction: Direction) -> int:
        return (
            self._scalar("SELECT count(*) FROM pending WHERE direction = ?", direction.value) or 0
        )

    def counter(self, name: str) -> int:
        """A running total: ``dead_drops_published``, ``user_received``,
        ``journalist_received`` (inputs toward the thresholds, cover and real alike), and
        one per kind of input alarm (``alarm_u2j_rate_up`` and so on, see
        ``quietline.mixer.alarm``)."""
        return self._scalar("SELECT value FROM counter WHERE name = ?", name) or 0

    def add_to_counter(self, name: str, amount: int = 1) -> None:
        """Add to a running total outside any other change (the input alarms' counts)."""
        with self._transaction() as db:
            self._bump(db, name, amount)

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, amount: int) -> None:
        db.execute(
            "INSERT INTO counter (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, amount),
        )


def read_mix_counts(path: Path) -> dict[Direction, tuple[int, datetime]]:
    """Each lane's inputs since its last release and when that was, read from the
    database at ``path`` without changing it (for ``quietline status`` beside a running
    mixer); empty before the mixer's first step.

    Raises OSError when the database cannot be read."""
    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT direction, received, last_release FROM mix").fetchall()
    except sqlite3.Error as error:
        raise OSError(f"cannot read the mixer's database {path}: {error}") from None
    return {Direction(lane): (int(count), parse_rfc3339(at)) for lane, count, at in rows}


def _owner_only(path: Path) -> None:
    """Make ``path`` (created empty if missing) and any WAL or shared-memory file beside it
    readable and writable by their owner only."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)
