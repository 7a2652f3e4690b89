"""SQLite files that several processes open at once: each waits its turn instead of
failing with "database is locked", and gives up only after its timeout."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from quietline.edge.sqlite_queues import SqliteQueues
from quietline.edge.store import EdgeStore
from quietline.mixer.state import MixerStore
from quietline.sqlite_files import in_wal_mode, when_free

PROCESSES = 4
ROUNDS = 25  # before the retry, about one round in four failed


def _open_queues(path: str) -> str:
    SqliteQueues(Path(path))
    return "opened"


def _open_store(path: str) -> str:
    EdgeStore(Path(path)).close()
    return "opened"


def _open_mixer_state(path: str) -> str:
    MixerStore(Path(path)).close()
    return "opened"


@pytest.mark.parametrize("opener", [_open_queues, _open_store, _open_mixer_state])
def test_processes_opening_a_new_file_together_all_open_it(
    tmp_path: Path, opener: Callable[[str], str]
) -> None:
    """As edge processes sharing one queue or store file do when they start together."""
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        for round_ in range(ROUNDS):
            path = str(tmp_path / f"{round_}.sqlite3")
            assert pool.map(opener, [path] * PROCESSES) == ["opened"] * PROCESSES


def test_a_statement_waits_for_the_file_and_then_runs(tmp_path: Path) -> None:
    holder = in_wal_mode(
        sqlite3.connect(tmp_path / "f.sqlite3", isolation_level=None, check_same_thread=False)
    )
    waiter = sqlite3.connect(tmp_path / "f.sqlite3", timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.05, holder.execute, ("COMMIT",))
    release.start()
    when_free(waiter, "BEGIN IMMEDIATE", timeout=30)
    assert waiter.in_transaction
    release.join()


def test_a_held_file_is_given_up_on_after_the_timeout(tmp_path: Path) -> None:
    holder = in_wal_mode(sqlite3.connect(tmp_path / "f.sqlite3", isolation_level=None))
    waiter = sqlite3.connect(tmp_path / "f.sqlite3", timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        when_free(waiter, "BEGIN IMMEDIATE", timeout=0.01)
    assert not waiter.in_transaction


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "f.sqlite3", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        when_free(db, "SELECT * FROM nowhere", timeout=30)
