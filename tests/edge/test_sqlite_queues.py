"""The submission queues in SQLite: separate, ordered, acknowledged, bounded exactly, and
committed in groups: concurrent submissions share a transaction, each answered only once
its own is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from quietline.edge.queues import QueueBehind, QueueFull
from quietline.edge.sqlite_queues import SqliteQueues
from quietline.protocol.api import Direction
from quietline.protocol.errors import MisuseError
from tests.support.queues import Queues, sqlite_queues

BOUNDS = {Direction.USER: 2, Direction.JOURNALIST: 1}


@pytest.fixture
def queues(tmp_path: Path) -> Queues:
    return sqlite_queues(tmp_path / "edge.sqlite3")


def test_queues_are_separate_ordered_and_acknowledged(queues: Queues) -> None:
    for i in range(5):
        queues.enqueue(Direction.USER, bytes([i]) * 3)
    queues.enqueue(Direction.JOURNALIST, b"j")
    assert queues.pull(Direction.USER, 0, 2, 0) == [(1, b"\x00" * 3), (2, b"\x01" * 3)]
    assert queues.pull(Direction.USER, 2, 10, 2) == [
        (3, b"\x02" * 3),
        (4, b"\x03" * 3),
        (5, b"\x04" * 3),
    ]
    assert queues.queue_length(Direction.USER) == 3
    assert queues.pull(Direction.USER, 0, 10, 0)[0][0] == 3  # acknowledged entries are gone
    assert queues.pull(Direction.JOURNALIST, 0, 10, 0) == [(1, b"j")]
    queues.pull(Direction.USER, 5, 10, 5)
    assert queues.queue_length(Direction.USER) == 0
    assert queues.enqueue(Direction.USER, b"x") == 6  # sequence numbers are never reused
    queues.close()


def test_a_pull_past_the_last_number_ever_given_forgets_nothing(queues: Queues) -> None:
    for i in range(3):
        queues.enqueue(Direction.USER, bytes([i]))
    queues.pull(Direction.USER, 2, 10, 2)  # acknowledges 1 and 2
    for after, ack_through in ((4, 0), (0, 4), (9, 9)):
        with pytest.raises(QueueBehind) as behind:
            queues.pull(Direction.USER, after, 10, ack_through)
        assert behind.value.status_hint == 409
    assert queues.pull(Direction.USER, 0, 10, 0) == [(3, b"\x02")]
    with pytest.raises(QueueBehind):  # a queue that never gave a number
        queues.pull(Direction.JOURNALIST, 1, 10, 0)
    queues.close()


def test_the_queues_survive_a_reopen_and_run_durable(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    first = sqlite_queues(path)
    first.enqueue(Direction.USER, b"durable")
    first.close()
    reopened = sqlite_queues(path)
    assert reopened.pull(Direction.USER, 0, 10, 0) == [(1, b"durable")]
    reopened.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


async def _submit_at_once(queues: SqliteQueues, count: int) -> list[int | str]:
    async def one(i: int) -> int | str:
        try:
            return await queues.enqueue(Direction.USER, i.to_bytes(2, "big"))
        except QueueFull:
            return "full"

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_concurrent_submissions_share_commits_and_keep_the_bound_exact(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    engine = SqliteQueues(path, {Direction.USER: 150, Direction.JOURNALIST: 1})
    queues = Queues(engine)
    db = sqlite3.connect(path)
    try:
        (commits_before,) = db.execute("PRAGMA data_version").fetchone()
        answers = asyncio.run(_submit_at_once(engine, 200))
        assert sorted(a for a in answers if isinstance(a, int)) == list(range(1, 151))
        assert answers.count("full") == 50
        pulled = queues.pull(Direction.USER, 0, 1000, 0)
        assert len({data for _, data in pulled}) == 150
        # data_version moves once per transaction another connection committed: far
        # fewer than one per submission.
        (commits_after,) = db.execute("PRAGMA data_version").fetchone()
        assert 1 <= commits_after - commits_before < 150
    finally:
        db.close()
        queues.close()


def test_submissions_from_threads_and_loops_are_all_kept(tmp_path: Path) -> None:
    engine = SqliteQueues(tmp_path / "edge.sqlite3")
    queues = Queues(engine)

    async def from_a_thread(worker: int) -> None:
        await asyncio.gather(
            *(engine.enqueue(Direction.USER, bytes([worker, i])) for i in range(50))
        )

    async def four_threads() -> None:
        await asyncio.gather(*(asyncio.to_thread(asyncio.run, from_a_thread(w)) for w in range(4)))

    asyncio.run(four_threads())
    pulled = queues.pull(Direction.USER, 0, 1000, 0)
    assert sorted(data for _, data in pulled) == sorted(
        bytes([w, i]) for w in range(4) for i in range(50)
    )
    assert [seq for seq, _ in pulled] == list(range(1, 201))
    queues.close()


def test_a_queue_at_its_bound_refuses_until_acknowledged(tmp_path: Path) -> None:
    bounded = sqlite_queues(tmp_path / "bounded.sqlite3", BOUNDS)
    try:
        assert [bounded.enqueue(Direction.USER, b"u") for _ in range(2)] == [1, 2]
        with pytest.raises(QueueFull) as full:
            bounded.enqueue(Direction.USER, b"u")
        assert full.value.status_hint == 503
        assert bounded.queue_length(Direction.USER) == 2
        assert bounded.enqueue(Direction.JOURNALIST, b"j") == 1  # each queue has its own
        bounded.pull(Direction.USER, 0, 10, 1)
        assert bounded.enqueue(Direction.USER, b"u") == 3
        with pytest.raises(QueueFull):
            bounded.enqueue(Direction.USER, b"u")
    finally:
        bounded.close()


def test_closing_commits_what_waits_and_then_refuses(tmp_path: Path) -> None:
    engine = SqliteQueues(tmp_path / "edge.sqlite3")

    async def submit_then_close() -> int:
        submitted = asyncio.ensure_future(engine.enqueue(Direction.USER, b"last"))
        await asyncio.sleep(0)  # the submission is handed to the committer
        await engine.close()
        return await submitted

    assert asyncio.run(submit_then_close()) == 1
    with pytest.raises(MisuseError):
        asyncio.run(engine.enqueue(Direction.USER, b"late"))
    reopened = sqlite_queues(tmp_path / "edge.sqlite3")
    assert reopened.pull(Direction.USER, 0, 10, 0) == [(1, b"last")]
    reopened.close()


def test_two_writers_of_one_file_take_turns_without_losing_anything(tmp_path: Path) -> None:
    # Two edge processes on one database: each committer waits for the other's lock.
    path = tmp_path / "edge.sqlite3"
    first, second = SqliteQueues(path), SqliteQueues(path)

    async def both() -> list[int]:
        return list(
            await asyncio.gather(
                *(
                    engine.enqueue(Direction.USER, bytes([n, i]))
                    for i in range(100)
                    for n, engine in enumerate((first, second))
                )
            )
        )

    assert sorted(asyncio.run(both())) == list(range(1, 201))
    Queues(first).close()
    Queues(second).close()
