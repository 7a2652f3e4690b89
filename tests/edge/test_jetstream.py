"""The submission queues in NATS JetStream, against a real server: the same protocol as
on SQLite (separate, ordered, acknowledged, never reusing a sequence number, bounded
exactly under concurrency), a submission published twice stored once, and a restart of
the server losing nothing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from quietline.edge.jetstream import JetStreamLocation, JetStreamQueues, parse_url
from quietline.edge.queues import QueueBehind, QueueFull, QueueUnavailable
from quietline.protocol.api import Direction
from quietline.protocol.messages import ENCRYPTED_J2C, ENCRYPTED_U2C
from tests.support.nats import jetstream_queues, private_server, shared_streams
from tests.support.queues import Queues

BOUNDS = {Direction.USER: 3, Direction.JOURNALIST: 1}


def u2c(n: int) -> bytes:
    return n.to_bytes(4, "big") + os.urandom(ENCRYPTED_U2C.size - 4)


@pytest.fixture
def url() -> Iterator[str]:
    with shared_streams() as streams:
        yield streams


def test_the_url_names_the_server_and_the_deployment() -> None:
    assert parse_url("nats://127.0.0.1:4222") == JetStreamLocation(
        "nats://127.0.0.1:4222", "quietline", 1
    )
    assert parse_url("tls://nats.example:4222/press-1?replicas=3") == JetStreamLocation(
        "tls://nats.example:4222", "press-1", 3
    )
    for bad in (
        "nats://",
        "http://x:4222",
        "nats://x:4222/a.b",
        "nats://x:4222/?q=1",
        "nats://x:4222?replicas=0",
        "nats://x:4222?replicas=3#x",
    ):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_queues_are_separate_ordered_acknowledged_and_bounded(url: str) -> None:
    with jetstream_queues(url, BOUNDS) as queues:
        assert [queues.enqueue(Direction.USER, u2c(n)) for n in range(3)] == [1, 2, 3]
        with pytest.raises(QueueFull) as full:
            queues.enqueue(Direction.USER, u2c(3))
        assert full.value.status_hint == 503
        j2c = os.urandom(ENCRYPTED_J2C.size)
        assert queues.enqueue(Direction.JOURNALIST, j2c) == 1  # each queue has its own
        assert [seq for seq, _ in queues.pull(Direction.USER, 0, 2, 0)] == [1, 2]
        page = queues.pull(Direction.USER, 2, 10, 2)  # acknowledges 1 and 2
        assert [(seq, data[:4]) for seq, data in page] == [(3, u2c(2)[:4])]
        assert queues.queue_length(Direction.USER) == 1
        assert queues.pull(Direction.USER, 0, 10, 0)[0][0] == 3  # acknowledged ones are gone
        assert queues.pull(Direction.JOURNALIST, 0, 10, 0) == [(1, j2c)]
        assert queues.enqueue(Direction.USER, u2c(4)) == 4
        with pytest.raises(QueueBehind):  # a cursor past the last number ever given
            queues.pull(Direction.USER, 4, 10, 99)
        assert queues.queue_length(Direction.USER) == 2  # nothing was forgotten
        assert queues.pull(Direction.USER, 4, 10, 4) == []
        assert queues.queue_length(Direction.USER) == 0
        assert queues.enqueue(Direction.USER, u2c(5)) == 5  # sequence numbers are never reused


def test_the_same_submission_twice_is_stored_once(url: str) -> None:
    with jetstream_queues(url) as queues:
        data = u2c(7)
        assert queues.enqueue(Direction.USER, data) == 1
        assert queues.enqueue(Direction.USER, data) == 1
        assert queues.enqueue(Direction.USER, u2c(8)) == 2
        assert queues.queue_length(Direction.USER) == 2


def test_concurrent_publishes_keep_the_bound_exact(url: str) -> None:
    engine = JetStreamQueues(url, {Direction.USER: 150, Direction.JOURNALIST: 1})

    async def publish_all() -> list[int | str]:
        async def one(n: int) -> int | str:
            try:
                return await engine.enqueue(Direction.USER, u2c(n))
            except QueueFull:
                return "full"

        try:
            return list(await asyncio.gather(*(one(n) for n in range(200))))
        finally:
            await engine.close()

    answers = asyncio.run(publish_all())
    assert sorted(a for a in answers if isinstance(a, int)) == list(range(1, 151))
    assert answers.count("full") == 50
    with jetstream_queues(url) as queues:
        page = queues.pull(Direction.USER, 0, 1000, 0)
    assert [seq for seq, _ in page] == list(range(1, 151))


def test_a_restarted_server_keeps_every_acknowledged_submission(tmp_path: Path) -> None:
    with private_server(tmp_path / "nats") as server:
        queues = Queues(JetStreamQueues(server.url))
        try:
            stored = [u2c(n) for n in range(20)]
            assert [queues.enqueue(Direction.USER, data) for data in stored] == list(range(1, 21))
            queues.pull(Direction.USER, 0, 5, 5)
            server.stop()  # SIGKILL
            with pytest.raises(QueueUnavailable):
                queues.queue_length(Direction.USER)
            server.start()
            # The connection comes back by itself: the edge needs no restart.
            for _ in range(100):
                try:
                    assert queues.enqueue(Direction.USER, u2c(20)) == 21
                    break
                except QueueUnavailable:
                    asyncio.run(asyncio.sleep(0.1))
            page = queues.pull(Direction.USER, 5, 100, 5)
            assert page == [(n + 1, stored[n]) for n in range(5, 20)] + [(21, page[-1][1])]
        finally:
            queues.close()


def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    with private_server(tmp_path / "nats") as server:
        url = server.url
    queues = Queues(JetStreamQueues(url))
    with pytest.raises(QueueUnavailable, match="unavailable"):
        queues.enqueue(Direction.USER, u2c(1))
    queues.close()
