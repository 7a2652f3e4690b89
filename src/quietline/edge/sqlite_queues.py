"""The submission queues in a SQLite file, with group commit.

One committer thread owns the only connection that writes the queues. Whatever the
edge asks for while a transaction is being written waits, and the committer then takes
all of it at once into the next one: concurrent submissions share one transaction and
one fsync, and each caller is answered only after the commit that holds its own
submission returned. The database runs in WAL mode with ``synchronous=FULL``, so that
commit has reached the disk: neither a crash of the edge nor of the machine loses an
acknowledged submission (docs/deploy.md). The bound is checked inside the transaction
against every submission in it, so it is exact however many share it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quietline.edge.queues import (
    DEFAULT_MAX_QUEUED,
    QueueBehind,
    QueueFull,
    QueueUnavailable,
    check_cursor,
)
from quietline.protocol.api import Direction
from quietline.protocol.errors import MisuseError
from quietline.sqlite_files import BUSY_TIMEOUT_SECONDS, in_wal_mode, when_free

_TABLES = {Direction.USER: "user_queue", Direction.JOURNALIST: "journalist_queue"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journalist_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL
);
"""
# Rows in one INSERT (SQLite allows 32,766 parameters in a statement).
ROWS_PER_INSERT = 500


def _held(db: sqlite3.Connection, table: str) -> int:
    """The submissions a queue holds. Acknowledging deletes a prefix, so the rows left are
    the run from the lowest sequence number to the highest: two index lookups count them."""
    ((held,),) = db.execute(
        f"SELECT COALESCE((SELECT MAX(seq) FROM {table})"  # noqa: S608
        f" - (SELECT MIN(seq) FROM {table}) + 1, 0)"
    ).fetchall()
    return int(held)


def read_queue_lengths(path: Path) -> dict[Direction, int]:
    """How many submissions each queue in the SQLite file at ``path`` holds, read without
    changing it (for ``quietline status`` on the edge's machine): counts only.

    Raises OSError when the file cannot be read."""
    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as db:
            return {direction: _held(db, table) for direction, table in _TABLES.items()}
    except sqlite3.Error as error:
        raise OSError(f"cannot read the edge's queues in {path}: {error}") from None


class _Transaction:
    """The committer's view of one open transaction: what each queue holds, counted once
    and then kept up to date."""

    def __init__(self, db: sqlite3.Connection, max_queued: Mapping[Direction, int]) -> None:
        self.db = db
        self.max_queued = max_queued
        self._held: dict[Direction, int] = {}

    def held(self, direction: Direction) -> int:
        if direction not in self._held:
            self._held[direction] = _held(self.db, _TABLES[direction])
        return self._held[direction]

    def enqueue(self, direction: Direction, submissions: Sequence[bytes]) -> list[int | None]:
        """Append ``submissions`` in order while the queue has room; the sequence number
        of each, or None for each one refused because the queue was full."""
        room = max(0, self.max_queued[direction] - self.held(direction))
        taken = submissions[:room]
        numbers: list[int | None] = []
        table = _TABLES[direction]
        for start in range(0, len(taken), ROWS_PER_INSERT):
            rows = taken[start : start + ROWS_PER_INSERT]
            # One statement for many rows: the committer thread gives up and takes back
            # Python's lock around each statement, and every take-back can wait for the
            # event loop's thread. The rows get consecutive numbers (this transaction is
            # the file's only writer), so the last one gives them all.
            values = ", ".join("(?)" for _ in rows)
            cursor = self.db.execute(f"INSERT INTO {table} (data) VALUES {values}", rows)  # noqa: S608
            last = int(cursor.lastrowid or 0)
            numbers.extend(range(last - len(rows) + 1, last + 1))
        self._held[direction] += len(taken)
        return numbers + [None] * (len(submissions) - len(taken))

    def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]] | QueueBehind:
        """The page, or the refusal to give it (returned, not raised: raising would roll
        back the whole batch of the committer)."""
        table = _TABLES[direction]
        given = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        highest = given.fetchall()
        try:
            check_cursor(direction, after, ack_through, int(highest[0][0]) if highest else 0)
        except QueueBehind as behind:
            return behind
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


@dataclass(eq=False)
class _Job:
    """One request for the committer: a submission to append, or other ``work``; answered
    through ``future`` on its caller's event loop once the commit is done."""

    future: asyncio.Future[Any]
    submission: tuple[Direction, bytes] | None = None
    work: Callable[[_Transaction], object] | None = None


_Outcome = tuple[_Job, object, BaseException | None]


def _full(direction: Direction) -> QueueFull:
    return QueueFull(f"the {direction.value} queue is full; try again later")


def _failed(error: Exception) -> Exception:
    """What a caller whose transaction failed with ``error`` is told (an exception of
    its own: one raised in many tasks would gather all their tracebacks)."""
    if not isinstance(error, sqlite3.Error):
        return error  # a bug: the edge answers 500 and logs its type and place
    busy = QueueUnavailable("the edge's store is busy; try again")
    busy.__cause__ = error
    return busy


def _settle(outcomes: list[_Outcome]) -> None:
    """Answer each job (on its event loop's thread), unless its caller gave up on it."""
    for job, result, error in outcomes:
        if job.future.done():
            continue
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)


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
        self._db = in_wal_mode(
            sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            ),
            busy_timeout,
        )
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # From here on no busy handler of SQLite's own: _begin waits for another writer.
        self._db.execute("PRAGMA busy_timeout=0")
        self._waiting: list[_Job] = []
        self._wake = threading.Condition()
        self._closing = False
        self._committer = threading.Thread(
            target=self._commit_loop, name="quietline queue committer", daemon=True
        )
        self._committer.start()

    async def enqueue(self, direction: Direction, data: bytes) -> int:
        number: int = await self._submit(submission=(direction, data))
        return number

    async def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]]:
        rows: list[tuple[int, bytes]] | QueueBehind = await self._submit(
            work=lambda t: t.pull(direction, after, limit, ack_through)
        )
        if isinstance(rows, QueueBehind):
            raise rows
        return rows

    async def queue_length(self, direction: Direction) -> int:
        count: int = await self._submit(work=lambda t: t.queue_length(direction))
        return count

    async def close(self) -> None:
        """Commit what is waiting, stop the committer and close the file."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        await asyncio.to_thread(self._committer.join)
        self._db.close()

    def _submit(
        self,
        *,
        submission: tuple[Direction, bytes] | None = None,
        work: Callable[[_Transaction], object] | None = None,
    ) -> asyncio.Future[Any]:
        job = _Job(asyncio.get_running_loop().create_future(), submission, work)
        with self._wake:
            if self._closing:
                raise MisuseError("the submission queues are closed")
            self._waiting.append(job)
            self._wake.notify()
        return job.future

    def _commit_loop(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                jobs, self._waiting = self._waiting, []
            if not jobs:
                return
            # A job whose caller was cancelled before its turn is not done (reading the
            # flag from this thread can only miss a late cancellation, which then finds
            # its submission stored, as when an answer is lost on the way).
            self._answer(self._commit([job for job in jobs if not job.future.cancelled()]))

    def _begin(self) -> None:
        """Open a write transaction, waiting up to ``busy_timeout`` for another writer of
        the file (another edge process) to finish."""
        when_free(self._db, "BEGIN IMMEDIATE", self.busy_timeout)

    def _commit(self, jobs: list[_Job]) -> list[_Outcome]:
        """Run ``jobs`` in one transaction, the other work first and then the submissions
        of each queue in the order they came; the outcome of each once committed (or
        QueueUnavailable for all when the transaction could not be)."""
        if not jobs:
            return []
        outcomes: list[_Outcome] = []
        try:
            self._begin()
            transaction = _Transaction(self._db, self.max_queued)
            for job in jobs:
                if job.work is not None:
                    outcomes.append((job, job.work(transaction), None))
            for direction in Direction:
                appending = [
                    job
                    for job in jobs
                    if job.submission is not None and job.submission[0] is direction
                ]
                data = [job.submission[1] for job in appending if job.submission is not None]
                for job, number in zip(
                    appending, transaction.enqueue(direction, data), strict=True
                ):
                    full = None if number is not None else _full(direction)
                    outcomes.append((job, number, full))
            self._db.execute("COMMIT")
        except Exception as error:  # the committer must outlive anything one batch meets
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            return [(job, None, _failed(error)) for job in jobs]
        return outcomes

    @staticmethod
    def _answer(outcomes: list[_Outcome]) -> None:
        """Hand each event loop its answers in one call: a wake-up per loop and batch,
        not per submission."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].future.get_loop(), []).append(outcome)
        for loop, answers in by_loop.items():
            with suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, answers)
