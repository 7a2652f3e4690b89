"""The edge's SQLite store: certified keys, profiles, dead drops and the operator's status.

The submission queues have engines of their own (quietline.edge.queues).

Everything here is public or encrypted; no table has a column for anything about a
caller. Each thread gets its own connection (Starlette runs handlers in a thread pool);
the database runs in WAL mode, and every write is one transaction, so a refused or
failed write leaves what was stored untouched. Dead drops older than the retention
(by their ``created_at``) are purged on every dead-drop write and hidden from reads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from quietline.protocol.errors import MalformedInput, QuietlineError
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, Revocation, RoleStatement

DEFAULT_RETENTION = timedelta(days=14)

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


class EdgeStore:
    """The edge's durable state in one SQLite file (plus its ``-wal`` and ``-shm``)."""

    def __init__(
        self,
        path: Path,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.path = path
        self.retention = retention
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
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _read(self, sql: str, *args: object) -> list[Any]:
        """The rows of one query; StoreBusy when SQLite cannot answer it now."""
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; StoreBusy when SQLite cannot take it in time."""
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

    def close(self) -> None:
        """Close every thread's connection (the last close checkpoints the WAL)."""
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

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
            if statement is not None:
                db.execute(
                    "INSERT OR IGNORE INTO roles (key, role, signature) VALUES (?, ?, ?)",
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
                "INSERT OR IGNORE INTO revocations (key, revoked_at, signature) VALUES (?, ?, ?)",
                (revocation.key, unix_micros(revocation.revoked_at), revocation.signature),
            )

    def max_epoch(self) -> int:
        """The highest epoch given to any stored key; 0 before the first."""
        ((epoch,),) = self._read("SELECT COALESCE(MAX(epoch), 0) FROM keys")
        return int(epoch)

    # --- profiles -----------------------------------------------------------------------

    def put_profile(self, profile: JournalistProfile, *, default: bool) -> None:
        """Insert or replace a profile; ``default`` makes it the only default one."""
        with self._write() as db:
            if default:
                db.execute("UPDATE profiles SET is_default = 0")
            db.execute(
                "INSERT OR REPLACE INTO profiles (id, profile, is_default) VALUES (?, ?, ?)",
                (profile.id, json.dumps(profile.to_json()), int(default)),
            )

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
            cursor = db.execute(
                "INSERT INTO dead_drops (kind, created_at, data, signature, epoch, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    dead_drop.KIND.value,
                    unix_micros(dead_drop.created_at),
                    dead_drop.data,
                    dead_drop.signature,
                    dead_drop.epoch if isinstance(dead_drop, JournalistDeadDrop) else None,
                    unix_micros(now),
                ),
            )
            return int(cursor.lastrowid or 0)

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

    def newest_dead_drops(self, body_type: type[B], limit: int, now: datetime) -> list[DeadDrop[B]]:
        """The newest ``limit`` dead drops of ``body_type`` within the retention at
        ``now``, in id order. Raises StoreBusy."""
        newest_first = self._dead_drop_rows(
            "SELECT id, created_at, data, signature, epoch FROM dead_drops"
            " WHERE kind = ? AND created_at >= ? ORDER BY id DESC LIMIT ?",
            (body_type.KIND.value, unix_micros(now - self.retention), limit),
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
        try:
            cursor = self._db().execute(query, parameters)
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error
        try:
            while (row := cursor.fetchone()) is not None:
                dead_drop_id, created_at, data, signature, epoch = row
                yield DeadDrop(
                    dead_drop_id,
                    body_type.restore(from_unix_micros(created_at), data, signature, epoch),
                )
        except sqlite3.OperationalError as error:
            raise StoreBusy("the edge's store is busy; try again") from error
        finally:
            cursor.close()

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
