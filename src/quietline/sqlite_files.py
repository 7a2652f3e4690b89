"""What every SQLite file of Quietline's needs when more than one process opens it.

Several edge processes may share one queue or store file, and they start together. SQLite
answers "database is locked" at once, without calling its busy handler, to a connection
that asks for WAL mode while another is switching the same file to it, and its own busy
handler sleeps 1, 2, 5, 10 ms and more between tries, leaving the file idle while two
writers take turns. ``when_free`` tries a statement again every ``interval`` until a
deadline instead.
"""

from __future__ import annotations

import sqlite3
import time

BUSY_TIMEOUT_SECONDS = 10.0
RETRY_SECONDS = 0.0002


def when_free(
    db: sqlite3.Connection, sql: str, timeout: float, interval: float = RETRY_SECONDS
) -> sqlite3.Cursor:
    """Run ``sql`` on ``db``, trying again while another connection holds the file (up to
    ``timeout`` seconds, then the last "database is locked" is raised)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return db.execute(sql)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(interval)


def in_wal_mode(
    db: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_SECONDS
) -> sqlite3.Connection:
    """``db``, switched to WAL mode even while other processes open and switch the same file."""
    when_free(db, "PRAGMA journal_mode=WAL", timeout)
    return db
