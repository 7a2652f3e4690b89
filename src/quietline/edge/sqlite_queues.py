"""The submission queues in a SQLite file, with group commit.

One committer thread owns the only connection that writes the queues. Whatever the
edge asks for while a transaction is being written waits, and the committer then takes
all of it at once into the next one: concurrent submissions share one transaction and
one fsync, and each caller is answered only after the commit that holds its own
submission returned. The database runs in WAL mode with ``synchronous=FULL``, so that
commit has reached the disk: neither a crash of the edge nor of the machine loses an
acknowledged submission (docs/deploy.md). The bound is checked inside the transaction,
submission by submission, so it is exact however many share it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from quietline.edge.queues import DEFAULT_MAX_QUEUED, QueueFull, QueueUnavailable
from quietline.protocol.api import Direction
from quietline.protocol.errors import MisuseError

BUSY_TIMEOUT_SECONDS = 10.0
BUSY_RETRY_SECONDS = 0.0002
_TABLES = {Direction.USER: "user_queue", Direction.JOURNALIST: "journalist_queue"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journalist_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL
);
"""
T = TypeVar("T")


class _Transaction:
    """The committer's view of one open transaction: what each queue holds, counted once
    and then kept up to date, so a batch of enqueues costs one insert each."""

    def __init__(self, db: sqlite3.Connection, max_queued: Mapping[Direction, int]) -> None:
        self.db = db
        self.max_queued = max_queued
        self._held: dict[Direction, int] = {}

    def held(self, direction: Direction) -> int:
        if direction not in self._held:
            table = _TABLES[direction]
            # Acknowledging deletes a prefix, so the rows left are the run from the lowest
            # sequence number to the highest: two index lookups count them.
            ((count,),) = self.db.execute(
                f"SELECT COALESCE((SELECT MAX(seq) FROM {table})"  # noqa: S608
                f" - (SELECT MIN(seq) FROM {table}) + 1, 0)"
            ).fetchall()
            self._held[direction] = int(count)
        return self._held[direction]

    def enqueue(self, direction: Direction, data: bytes) -> int:
        if self.held(direction) >= self.max_queued[direction]:
            raise QueueFull(f"the {direction.value} queue is full; try again later")
        table = _TABLES[direction]
        cursor = self.db.execute(f"INSERT INTO {table} (data) VALUES (?)", (data,))  # noqa: S608
        self._held[direction] += 1
        return int(cursor.lastrowid or 0)

    def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]]:
        table = _TABLES[direction]
        self.db.execute(f"DELETE FROM {table} WHERE seq <= ?", (ack_through,))  # noqa: S608
        self._held.pop(direction, None)
        rows = self.db.execute(
            f"SELECT seq, data FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
            (after, limit),
        ).fetchall()
        return [(int(seq), bytes(data)) for seq, data in rows]

    def queue_length(self, direction: Direction) -> int:
        table = _TABLES[direction]
        ((count,),) = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchall()  # noqa: S608
        return int(count)


@dataclass
class _Job(Generic[T]):
    """One request for the committer, answered through ``future`` after the commit."""

    work: Callable[[_Transaction], T]
    future: Future[T] = field(default_factory=Future)


class SqliteQueues:
    """Both submission queues in the SQLite file at ``path`` (which may be the edge's own
    database), each bounded by ``max_queued``; ``busy_timeout`` is how long a transaction
    waits for another writer of the file. Safe to use from any thread and event loop."""

    def __init__(
        self,
        path: Path,
        max_queued: Mapping[Direction, int] = DEFAULT_MAX_QUEUED,
        *,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self.path = path
        self.max_queued = dict(max_queued)
        # Autocommit mode: the committer opens each transaction itself.
        self.busy_timeout = busy_timeout
        self._db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # From here on no busy handler of SQLite's own: _begin waits for another writer.
        self._db.execute("PRAGMA busy_timeout=0")
        self._waiting: list[_Job[object]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._committer = threading.Thread(
            target=self._commit_loop, name="quietline queue committer", daemon=True
        )
        self._committer.start()

    async def enqueue(self, direction: Direction, data: bytes) -> int:
        return await self._submit(lambda t: t.enqueue(direction, data))

    async def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]]:
        return await self._submit(lambda t: t.pull(direction, after, limit, ack_through))

    async def queue_length(self, direction: Direction) -> int:
        return await self._submit(lambda t: t.queue_length(direction))

    async def close(self) -> None:
        """Commit what is waiting, stop the committer and close the file."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        await asyncio.to_thread(self._committer.join)
        self._db.close()

    def _submit(self, work: Callable[[_Transaction], T]) -> asyncio.Future[T]:
        job: _Job[T] = _Job(work)
        with self._wake:
            if self._closing:
                raise MisuseError("the submission queues are closed")
            self._waiting.append(job)  # type: ignore[arg-type]
            self._wake.notify()
        return asyncio.wrap_future(job.future)

    def _commit_loop(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                jobs, self._waiting = self._waiting, []
            if not jobs:
                return
            self._commit([job for job in jobs if job.future.set_running_or_notify_cancel()])

    def _begin(self) -> None:
        """Open a write transaction, waiting up to ``busy_timeout`` for another writer of
        the file (another edge process) to finish. SQLite's own busy handler sleeps 1, 2,
        5, 10 ms and more between tries, leaving the file idle while two committers take
        turns; this one tries again every BUSY_RETRY_SECONDS."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(BUSY_RETRY_SECONDS)

    def _commit(self, jobs: list[_Job[object]]) -> None:
        """Run ``jobs`` in one transaction; answer each once it is committed (or with
        QueueUnavailable for all when it could not be)."""
        if not jobs:
            return
        results: list[tuple[_Job[object], object, BaseException | None]] = []
        try:
            self._begin()
            transaction = _Transaction(self._db, self.max_queued)
            for job in jobs:
                try:
                    results.append((job, job.work(transaction), None))
                except QueueFull as full:  # refuses this one; the rest go on
                    results.append((job, None, full))
            self._db.execute("COMMIT")
        except Exception as error:  # the committer must outlive anything one batch meets
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            failed: Exception = error
            if isinstance(error, sqlite3.Error):
                failed = QueueUnavailable("the edge's store is busy; try again")
                failed.__cause__ = error
            for job in jobs:
                job.future.set_exception(failed)
            return
        for job, result, refused in results:
            if refused is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(refused)
