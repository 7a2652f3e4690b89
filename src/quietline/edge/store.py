"""The edge's stores: certified keys, profiles, dead drops and the operator's status.

The submission queues have engines of their own (quietline.edge.queues).

Everything here is public or encrypted; no table has a column for anything about a
caller. :class:`SqlEdgeStore` holds every rule and every statement, in SQL that SQLite
and PostgreSQL both speak; an engine only connects and runs them: :class:`EdgeStore`
(one SQLite file, the default) and
``quietline.edge.postgres.PostgresEdgeStore``. Every write is one transaction, so a
refused or failed write leaves what was stored untouched. Dead drops older than the
retention (by their ``created_at``) are purged on every dead-drop write and hidden from
reads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from quietline.protocol.api import Status, SystemStatus
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    DeadDropKind,
    JournalistDeadDrop,
    SignedDeadDrop,
)
from quietline.protocol.encoding import from_unix_micros, unix_micros
from quietline.protocol.errors import MalformedInput, QuietlineError, UnknownRecipient
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, Revocation, RoleStatement
from quietline.sqlite_files import in_wal_mode

DEFAULT_RETENTION = timedelta(days=14)
# How long a write waits for another edge process writing the same file.
STORE_BUSY_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key BLOB PRIMARY KEY,
    role TEXT NOT NULL,
    owner TEXT,
    parent_key BLOB NOT NULL,
    certificate BLOB NOT NULL,
    not_valid_after INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    epoch INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS roles (
    key BLOB NOT NULL, role TEXT NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (key, role)
);
CREATE TABLE IF NOT EXISTS revocations (
    key BLOB NOT NULL, revoked_at INTEGER NOT NULL, signature BLOB NOT NULL,
    PRIMARY KEY (key, revoked_at)
);
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    is_default INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_drops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data BLOB NOT NULL,
    signature BLOB NOT NULL UNIQUE,
    epoch INTEGER,
    stored_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_drops_created_at ON dead_drops (created_at);
CREATE TABLE IF NOT EXISTS status_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    timestamp INTEGER NOT NULL
);
"""


class KeyConflict(QuietlineError):
    """A key is already stored in another place of the hierarchy (role, owner or parent)."""

    default_status = 409


class DeadDropConflict(QuietlineError):
    """A dead drop's signature is already stored as a dead drop of the other kind."""

    default_status = 409


class StoreBusy(QuietlineError):
    """The store could not take the write in time (another writer holds it); try again."""

    default_status = 503
    retry_after_seconds = 1


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A certified key the edge accepted, with its parent and the epoch it raised."""

    role: KeyRole
    owner: RecipientId | None
    parent_key: bytes
    signed: SignedKey
    expires_at: datetime  # not_valid_after clamped to every ancestor's
    epoch: int


def _valid_owner(owner: str | None) -> bool:
    """Whether a stored owner meets the recipient-id rule: rows an older edge stored
    before the rule existed are kept on disk but never served."""
    try:
        return owner is None or RecipientId(owner) == owner
    except MalformedInput:
        return False


class Rows(Protocol):
    """What running one statement gives back (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    """One open write transaction: statements with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows: ...


class SqlEdgeStore(ABC):
    """The edge's keys, role statements, revocations, profiles, status and dead drops:
    every rule and statement, over an engine that connects and runs them.

    An engine supplies :meth:`_read`, :meth:`_write` and :meth:`_rows` (each raising
    StoreBusy when the database cannot answer now), :meth:`_serialize` and :meth:`close`.
    """

    def __init__(self, retention: timedelta) -> None:
        self.retention = retention

    @abstractmethod
    def _read(self, sql: str, *args: object) -> list[Any]:
        """The rows of one query; StoreBusy when the database cannot answer it now."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Transaction]:
        """One write transaction, committed when the block ends and rolled back when it
        raises; StoreBusy when the database cannot take it now."""

    @abstractmethod
    def _rows(self, sql: str, parameters: Sequence[object]) -> Generator[Any, None, None]:
        """The rows of one query, fetched from the database one at a time as they are
        taken; StoreBusy when the database cannot answer."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    def _serialize(self, db: Transaction, table: str) -> None:
        """Make writers of ``table`` take turns until ``db`` ends, so epochs and dead-drop
        ids are handed out, and become visible, in order, and one default profile stays."""

    # --- keys ---------------------------------------------------------------------------

    def add_key(
        self,
        role: KeyRole,
        owner: str | None,
        parent_key: bytes,
        signed: SignedKey,
        expires_at: datetime,
        *,
        statement: RoleStatement | None = None,
    ) -> int:
        """Store a verified key (with the organisation's role statement, for a provisioning
        key) with the next epoch and return it; storing the same key in the same place
        again returns its epoch. Raises KeyConflict when the key is stored in another
        place."""
        with self._write() as db:
            self._serialize(db, "keys")
            if statement is not None:
                db.execute(
                    "INSERT INTO roles (key, role, signature) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (statement.key, statement.role.value, statement.signature),
                )
            row = db.execute(
                "SELECT role, owner, parent_key, epoch FROM keys WHERE key = ?", (signed.key,)
            ).fetchone()
            if row is not None:
                if (row[0], row[1], row[2]) != (role.value, owner, parent_key):
                    raise KeyConflict("this key is already published in another place")
                return int(row[3])
            epoch = int(db.execute("SELECT COALESCE(MAX(epoch), 0) + 1 FROM keys").fetchone()[0])
            db.execute(
                "INSERT INTO keys (key, role, owner, parent_key, certificate, not_valid_after,"
                " expires_at, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    signed.key,
                    role.value,
                    owner,
                    parent_key,
                    signed.certificate,
                    unix_micros(signed.not_valid_after),
                    unix_micros(expires_at),
                    epoch,
                ),
            )
            return epoch

    def live_keys(self, now: datetime) -> list[StoredKey]:
        """Every stored key not yet expired at ``now`` (clamped expiry), oldest epoch first."""
        rows = self._read(
            "SELECT role, owner, parent_key, key, certificate, not_valid_after, expires_at,"
            " epoch FROM keys WHERE expires_at >= ? ORDER BY epoch",
            unix_micros(now),
        )
        return [
            StoredKey(
                KeyRole(role),
                None if owner is None else RecipientId(owner),
                parent,
                SignedKey(key, certificate, from_unix_micros(not_valid_after)),
                from_unix_micros(expires_at),
                epoch,
            )
            for role, owner, parent, key, certificate, not_valid_after, expires_at, epoch in rows
            if _valid_owner(owner)
        ]

    def statements(self) -> OrganizationStatements:
        """Every role statement and revocation stored (each verified when it came in)."""
        roles = tuple(
            RoleStatement(key, KeyRole(role), signature)
            for key, role, signature in self._read(
                "SELECT key, role, signature FROM roles ORDER BY key, role"
            )
        )
        revocations = tuple(
            Revocation(key, from_unix_micros(revoked_at), signature)
            for key, revoked_at, signature in self._read(
                "SELECT key, revoked_at, signature FROM revocations ORDER BY revoked_at, key"
            )
        )
        return OrganizationStatements(roles, revocations)

    def add_revocation(self, revocation: Revocation) -> None:
        """Store a verified revocation (storing it again changes nothing)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO revocations (key, revoked_at, signature) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (revocation.key, unix_micros(revocation.revoked_at), revocation.signature),
            )

    def hierarchy_version(self) -> tuple[int, int, int]:
        """What changes the verified hierarchy, in one read: the highest epoch, the number
        of role statements and the number of revocations. The store only ever adds these
        rows, so each change raises one of the three; a row deleted by hand goes unseen
        by running edges until they restart."""
        ((epoch, roles, revocations),) = self._read(
            "SELECT (SELECT COALESCE(MAX(epoch), 0) FROM keys), (SELECT COUNT(*) FROM roles),"
            " (SELECT COUNT(*) FROM revocations)"
        )
        return int(epoch), int(roles), int(revocations)

    def max_epoch(self) -> int:
        """The highest epoch given to any stored key; 0 before the first."""
        ((epoch,),) = self._read("SELECT COALESCE(MAX(epoch), 0) FROM keys")
        return int(epoch)

    # --- profiles -----------------------------------------------------------------------

    def put_profile(self, profile: JournalistProfile, *, default: bool) -> None:
        """Insert or replace a profile; ``default`` makes it the only default one."""
        with self._write() as db:
            self._serialize(db, "profiles")  # two new defaults at once would both stay
            if default:
                db.execute("UPDATE profiles SET is_default = 0")
            db.execute(
                "INSERT INTO profiles (id, profile, is_default) VALUES (?, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET profile = excluded.profile, is_default = excluded.is_default",
                (profile.id, json.dumps(profile.to_json()), int(default)),
            )

    def change_profile(
        self, recipient_id: str, change: Callable[[JournalistProfile], JournalistProfile]
    ) -> None:
        """Replace the stored profile of ``recipient_id`` by ``change`` of it, in one
        transaction (whatever ``change`` raises leaves it as it was); UnknownRecipient
        when none is stored."""
        with self._write() as db:
            self._serialize(db, "profiles")  # a change made meanwhile would be lost
            rows = db.execute("SELECT profile FROM profiles WHERE id = ?", (recipient_id,))
            found = rows.fetchall()
            if not found:
                raise UnknownRecipient(f"no profile of {recipient_id!r} is published")
            changed = change(JournalistProfile.from_json(load_json(found[0][0])))
            db.execute(
                "UPDATE profiles SET profile = ? WHERE id = ?",
                (json.dumps(changed.to_json()), recipient_id),
            )

    def remove_profile(self, recipient_id: str) -> None:
        """Stop publishing the profile of ``recipient_id`` (its keys stay until they expire
        or are revoked); UnknownRecipient when none is stored."""
        with self._write() as db:
            if not db.execute("DELETE FROM profiles WHERE id = ?", (recipient_id,)).rowcount:
                raise UnknownRecipient(f"no profile of {recipient_id!r} is published")

    def profiles(self) -> tuple[list[JournalistProfile], str | None]:
        """Every profile (by id) and the default recipient's id, if one is set."""
        rows = self._read("SELECT profile, is_default, id FROM profiles ORDER BY id")
        profiles = []
        default = None
        for text, is_default, profile_id in rows:
            try:
                profiles.append(JournalistProfile.from_json(load_json(text)))
            except MalformedInput:
                continue  # stored by an older edge before the recipient-id rule: not served
            if is_default:
                default = profile_id
        return profiles, default

    # --- the operator's status ----------------------------------------------------------

    def put_status(self, status: Status) -> None:
        """Keep ``status`` as the newest one the operator set."""
        with self._write() as db:
            db.execute(
                "INSERT INTO status_events (status, description, timestamp) VALUES (?, ?, ?)",
                (status.status.value, status.description, unix_micros(status.timestamp)),
            )

    def latest_status(self) -> Status | None:
        """The status the operator set last, None before the first."""
        rows = self._read(
            "SELECT status, description, timestamp FROM status_events ORDER BY seq DESC LIMIT 1"
        )
        if not rows:
            return None
        ((status, description, timestamp),) = rows
        return Status(SystemStatus(status), description, from_unix_micros(timestamp))

    # --- dead drops ---------------------------------------------------------------------

    def add_dead_drop(self, dead_drop: SignedDeadDrop, now: datetime) -> int:
        """Store a verified dead drop once per signature and return its id (the stored
        id when it is already there); purges dead drops past the retention first.

        Raises DeadDropConflict when the signature is stored under the other kind.
        """
        with self._write() as db:
            self._serialize(db, "dead_drops")
            db.execute(
                "DELETE FROM dead_drops WHERE created_at < ?", (unix_micros(now - self.retention),)
            )
            row = db.execute(
                "SELECT id, kind FROM dead_drops WHERE signature = ?", (dead_drop.signature,)
            ).fetchone()
            if row is not None:
                if row[1] != dead_drop.KIND.value:
                    raise DeadDropConflict("this signature is stored on another kind of dead drop")
                return int(row[0])
            ((dead_drop_id,),) = db.execute(
                "INSERT INTO dead_drops (kind, created_at, data, signature, epoch, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    dead_drop.KIND.value,
                    unix_micros(dead_drop.created_at),
                    dead_drop.data,
                    dead_drop.signature,
                    dead_drop.epoch if isinstance(dead_drop, JournalistDeadDrop) else None,
                    unix_micros(now),
                ),
            ).fetchall()
            return int(dead_drop_id)

    def dead_drops(
        self, body_type: type[B], after: int, limit: int, now: datetime
    ) -> list[DeadDrop[B]]:
        """Up to ``limit`` dead drops of ``body_type`` with ids above ``after``, in id
        order, leaving out those past the retention at ``now``."""
        with closing(self.dead_drops_after(body_type, after, limit, now)) as found:
            return list(found)

    def dead_drop_summary(
        self, kind: DeadDropKind, count: int, now: datetime
    ) -> list[tuple[int, datetime]]:
        """The id and creation time of the newest ``count`` dead drops of ``kind``
        within the retention at ``now``, newest first. Raises StoreBusy."""
        rows = self._read(
            "SELECT id, created_at FROM dead_drops WHERE kind = ? AND created_at >= ?"
            " ORDER BY id DESC LIMIT ?",
            kind.value,
            unix_micros(now - self.retention),
            count,
        )
        return [(int(id_), from_unix_micros(created_at)) for id_, created_at in rows]

    def newest_dead_drops(
        self, body_type: type[B], limit: int, now: datetime, *, skip: int = 0
    ) -> list[DeadDrop[B]]:
        """The newest ``limit`` dead drops of ``body_type`` within the retention at
        ``now`` once the newest ``skip`` are left out, in id order. Raises StoreBusy."""
        newest_first = self._dead_drop_rows(
            "SELECT id, created_at, data, signature, epoch FROM dead_drops"
            " WHERE kind = ? AND created_at >= ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (body_type.KIND.value, unix_micros(now - self.retention), limit, skip),
            body_type,
        )
        with closing(newest_first):
            return list(newest_first)[::-1]

    def dead_drops_after(
        self, body_type: type[B], after: int, limit: int, now: datetime
    ) -> Generator[DeadDrop[B], None, None]:
        """The same dead drops as :meth:`dead_drops`, read from the database one at a time
        as they are taken, so a reader that stops early never holds the rest; close it
        (or read it to the end) on the thread that made it. Raises StoreBusy."""
        return self._dead_drop_rows(
            "SELECT id, created_at, data, signature, epoch FROM dead_drops"
            " WHERE kind = ? AND id > ? AND created_at >= ? ORDER BY id LIMIT ?",
            (body_type.KIND.value, after, unix_micros(now - self.retention), limit),
            body_type,
        )

    def _dead_drop_rows(
        self, query: str, parameters: tuple[str | int, ...], body_type: type[B]
    ) -> Generator[DeadDrop[B], None, None]:
        rows = self._rows(query, parameters)
        with closing(rows):
            for dead_drop_id, created_at, data, signature, epoch in rows:
                yield DeadDrop(
                    dead_drop_id,
                    body_type.restore(from_unix_micros(created_at), data, signature, epoch),
                )

    def purge(self, now: datetime) -> int:
        """Delete dead drops created before ``now - retention``; returns how many."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM dead_drops WHERE created_at < ?", (unix_micros(now - self.retention),)
            )
            return cursor.rowcount

    def dead_drop_count(self) -> int:
        ((count,),) = self._read("SELECT COUNT(*) FROM dead_drops")
        return int(count)


class EdgeStore(SqlEdgeStore):
    """The edge's durable state in one SQLite file (plus its ``-wal`` and ``-shm``). Each
    thread gets its own connection (Starlette runs handlers in a thread pool); the
    database runs in WAL mode."""

    def __init__(
        self,
        path: Path,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        super().__init__(retention)
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # executescript commits on its own; the schema statements are idempotent.
        self._db().executescript(_SCHEMA)

    # --- connections and transactions -------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: transactions are opened explicitly by _write.
            db = in_wal_mode(
                sqlite3.connect(
                    self.path,
                    timeout=STORE_BUSY_SECONDS,
                    isolation_level=None,
                    check_same_thread=False,
                ),
                STORE_BUSY_SECONDS,
            )
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _read(self, sql: str, *args: object) -> list[Any]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            db.execute("ROLLBACK")
            raise StoreBusy("the edge's store is busy; try again") from error

    def _rows(self, sql: str, parameters: Sequence[object]) -> Generator[Any, None, None]:
        """Close it (or read it to the end) on the thread that made it."""
        try:
            cursor = self._db().execute(sql, parameters)
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error
        try:
            while (row := cursor.fetchone()) is not None:
                yield row
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error
        finally:
            cursor.close()

    def _serialize(self, db: Transaction, table: str) -> None:
        pass  # BEGIN IMMEDIATE already makes every writer take its turn

    def close(self) -> None:
        """Close every thread's connection (the last close checkpoints the WAL)."""
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
