"""The source client against the real edge app, served by uvicorn on loopback.

What is measured: a client whose user wrote and one whose user did not send the same
number of requests, at the same ticks, to the same routes, with the same headers and
body sizes, and rewrite their files at the same ticks; the real message reaches the
edge's queue in place of a cover message; a reply in a user dead drop is found by
``inbox``; network failures and keys that do not verify never crash the loop.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.client import FixedRate, Memoryless, QueueFull, SourceClient, SourceStorage
from quietline.client.mailbox import open_records
from quietline.clock import FixedClock
from quietline.edge.store import Direction
from quietline.edge_client import EdgeClient
from quietline.processes import free_port
from quietline.protocol.errors import ProtocolError
from quietline.protocol.messages import RecipientTag, U2CMessage, parse_u2c, text_reply
from quietline.vault import INTERACTIVE
from tests.client.edge_server import RecordedRequest, RunningEdge, published_edge
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

PASSPHRASE = "a long and private passphrase"
SECRET_TEXT = "the sentinel text 7f3a9c"
TICKS = 240
WRITE_AT_TICK = 20


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


def _client(edge_url: str, folder: Path, org: Organisation, start: datetime) -> SourceClient:
    return SourceClient(
        edge_url,
        [org.anchor],
        SourceStorage(folder, kdf_cost=INTERACTIVE),
        FixedClock(start),
        # The same seed for both: the schedule is the same for everyone, and a
        # memoryless one must not be steered by the queue either.
        send_schedule=Memoryless(timedelta(seconds=6), random.Random(1234)),
        download_schedule=FixedRate(timedelta(seconds=60)),
    )


@dataclass
class Run:
    sent_at: list[int]
    queue_rewritten_at: list[int]
    requests: list[RecordedRequest]
    sizes: tuple[int, int, int]


def _run(edge: RunningEdge, client: SourceClient, start: datetime, *, write: bool) -> Run:
    storage = client.storage
    first = len(edge.recorder.requests)
    sent_at, rewritten_at = [], []
    for tick in range(TICKS):
        now = start + timedelta(seconds=tick)
        if write and tick == WRITE_AT_TICK:
            client.send(PASSPHRASE, "news_desk", SECRET_TEXT, new=True, now=now)
        before = _digest(storage.queue_path) if storage.queue_path.exists() else ""
        outcome = client.tick(now)
        assert not outcome.failures
        if outcome.sent:
            sent_at.append(tick)
        if _digest(storage.queue_path) != before:
            rewritten_at.append(tick)
    sizes = (
        storage.queue_path.stat().st_size,
        storage.vault.path.stat().st_size,
        len(storage.read_cache().dead_drops),
    )
    return Run(sent_at, rewritten_at, edge.recorder.requests[first:], sizes)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _queued_u2c(edge: RunningEdge, org: Organisation) -> list[tuple[bytes, U2CMessage | None]]:
    rows = edge.store.pull(Direction.USER, 0, 10_000, 0)
    opened: list[tuple[bytes, U2CMessage | None]] = []
    for _, data in rows:
        try:
            opened.append((data, parse_u2c(data).open(org.covernode_messaging.pair)))
        except ProtocolError:
            opened.append((data, None))  # a fresh install's random slot: cover too
    return opened


def test_writer_and_non_writer_send_the_same_traffic(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = datetime.now(UTC)
    writer = _client(edge.url, tmp_path / "writer", org, start)
    quiet = _client(edge.url, tmp_path / "quiet", org, start)
    with writer, quiet:
        written = _run(edge, writer, start, write=True)
        silent = _run(edge, quiet, start, write=False)

    assert len(written.sent_at) > 20
    assert written.sent_at == silent.sent_at
    # Tick 0 installs the random queue; after that it changes on send ticks only.
    assert written.queue_rewritten_at == silent.queue_rewritten_at == [0, *written.sent_at]
    assert written.sizes == silent.sizes
    assert [r.shape() for r in written.requests] == [r.shape() for r in silent.requests]
    posts = [r for r in written.requests if r.method == "POST"]
    assert {(r.path, r.body_size) for r in posts} == {("/user/messages", 1033)}
    assert len(posts) == len(written.sent_at)
    assert writer.counters == quiet.counters

    queued = _queued_u2c(edge, org)
    assert len(queued) == 2 * len(written.sent_at)
    assert {len(data) for data, _ in queued} == {773}
    real = [u2c for _, u2c in queued if u2c is not None and not u2c.tag.is_cover]
    assert len(real) == 1
    assert real[0].tag == RecipientTag.of("news_desk")
    u2j = real[0].payload.open(org.recipients["news_desk"].messaging.pair)
    assert u2j.text.text() == SECRET_TEXT


def test_a_reply_in_a_user_dead_drop_reaches_inbox(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = datetime.now(UTC)
    with _client(edge.url, tmp_path / "source", org, start) as client:
        client.tick(start)  # downloads keys; nothing is due to send yet
        client.send(PASSPHRASE, "news_desk", SECRET_TEXT, new=True, now=start)
        tick = 0
        while not _queued_u2c(edge, org) or all(
            u2c is None or u2c.tag.is_cover for _, u2c in _queued_u2c(edge, org)
        ):
            tick += 1
            assert tick < 200, "the real message never left"
            client.tick(start + timedelta(seconds=tick))

        # The desk's side: open the message, reply to its reply key.
        (real,) = [u2c for _, u2c in _queued_u2c(edge, org) if u2c and not u2c.tag.is_cover]
        u2j = real.payload.open(org.recipients["news_desk"].messaging.pair)
        entry = reply_entry(org, "news_desk", u2j.reply_key, text_reply("we got it"))
        with EdgeClient(edge.url) as publisher:
            publisher.publish_dead_drop(user_dead_drop(org, [entry], datetime.now(UTC)))

        assert client.inbox(PASSPHRASE, now=start + timedelta(seconds=tick)) == []
        client.tick(start + timedelta(seconds=tick + 61))  # the next download
        replies = client.inbox(PASSPHRASE, now=start + timedelta(seconds=tick + 61))
        assert [(r.journalist_id, r.kind, r.text) for r in replies] == [
            ("news_desk", "text", "we got it")
        ]
        records, _ = open_records(client.storage, PASSPHRASE, create=False)
        assert records.user_key.public == u2j.reply_key


def test_an_unreachable_edge_is_counted_and_the_head_kept(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = datetime.now(UTC)
    folder = tmp_path / "source"
    with _client(edge.url, folder, org, start) as online:
        online.tick(start)
    dead_url = f"http://127.0.0.1:{free_port()}"
    with SourceClient(
        dead_url,
        [org.anchor],
        SourceStorage(folder, kdf_cost=INTERACTIVE),
        FixedClock(start),
        send_schedule=FixedRate(timedelta(seconds=10)),
        download_schedule=FixedRate(timedelta(seconds=60)),
    ) as offline:
        queue_before = _digest(offline.storage.queue_path)
        for second in (0, 10, 20):
            outcome = offline.tick(start + timedelta(seconds=second))
            assert not outcome.sent
            assert outcome.failures
        assert offline.counters.download_failures == 1
        assert offline.counters.send_failures == 2
        assert _digest(offline.storage.queue_path) == queue_before
    assert edge.store.queue_length(Direction.USER) == 0

    # Back online: the kept head goes out at the next scheduled time.
    head = offline.storage.read_queue().dequeue(lambda: bytes(773))
    with _client(edge.url, folder, org, start) as online:
        online.tick(start + timedelta(seconds=30))
        for second in range(31, 120):
            if online.tick(start + timedelta(seconds=second)).sent:
                break
    assert [data for data, _ in _queued_u2c(edge, org)] == [head]


def test_keys_that_do_not_verify_are_refused_and_the_last_good_set_kept(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = datetime.now(UTC)
    folder = tmp_path / "source"
    with _client(edge.url, folder, org, start) as client:
        client.tick(start)
    good = SourceStorage(folder).read_cache().published
    assert good is not None

    impostor = Organisation.create(start - timedelta(hours=1))
    with published_edge(tmp_path / "impostor", impostor) as fake:
        with EdgeClient(fake.url) as admin:
            admin.publish_dead_drop(user_dead_drop(impostor, [], datetime.now(UTC)))
        with _client(fake.url, folder, org, start) as misled:
            misled.tick(start)
            assert misled.counters.key_sets_refused == 1
            assert misled.counters.dead_drops_refused == 1
            assert misled.storage.read_cache().published == good
            assert misled.storage.read_cache().dead_drops == []
            assert misled.verified_keys(start) is not None
        # A client that never saw a good key set never sends.
        with _client(fake.url, tmp_path / "fresh", org, start) as fresh:
            for second in range(0, 60):
                assert not fresh.tick(start + timedelta(seconds=second)).sent
            assert fresh.counters.sends == 0
            assert fresh.counters.sends_skipped_without_keys > 0
        assert fake.store.queue_length(Direction.USER) == 0


def test_sending_while_the_loop_runs_loses_nothing(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = datetime.now(UTC)
    folder = tmp_path / "source"
    texts = [f"message {n}" for n in range(12)]
    with _client(edge.url, folder, org, start) as loop:
        loop.tick(start)
        stop = threading.Event()

        def ticking() -> None:
            second = 0
            while not stop.is_set():
                second += 1
                loop.tick(start + timedelta(seconds=second))

        ticker = threading.Thread(target=ticking)
        ticker.start()
        try:
            # Another client object on the same folder, as a separate `send` process is.
            user = SourceClient(None, [org.anchor], SourceStorage(folder, kdf_cost=INTERACTIVE),
                                FixedClock(start))  # fmt: skip
            deadline = time.monotonic() + 30
            for n, text in enumerate(texts):
                while True:
                    assert time.monotonic() < deadline, "the queue never drained"
                    try:
                        user.send(PASSPHRASE, "news_desk", text, new=n == 0, now=start)
                        break
                    except QueueFull:
                        time.sleep(0.01)
            while len(_real_texts(edge, org)) < len(texts):
                assert time.monotonic() < deadline, "not every message left"
                time.sleep(0.01)
        finally:
            stop.set()
            ticker.join()
    assert _real_texts(edge, org) == texts
    assert loop.storage.queue_path.stat().st_size == 8 * (16 + 773)


def _real_texts(edge: RunningEdge, org: Organisation) -> list[str]:
    key = org.recipients["news_desk"].messaging.pair
    return [
        u2c.payload.open(key).text.text()
        for _, u2c in _queued_u2c(edge, org)
        if u2c is not None and not u2c.tag.is_cover
    ]
