"""The source client against the real edge app, served by uvicorn on loopback.

What is measured: a client whose user wrote and one whose user did not send the same
number of requests, at the same ticks, to the same routes, with the same headers and
body sizes, and rewrite their vaults at the same ticks; the real message reaches the
edge's queue in place of a cover message; a reply in a user dead drop is found by
``inbox``; network failures and keys that do not verify never crash the loop. Driven by
``runner.run_steps`` as ``source run`` drives it (against a recording fake edge, time
moved by hand), the client is stepped at every due send and waits at most a second.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.client import (
    FixedRate,
    Memoryless,
    QueueFull,
    SourceClient,
    SourceStorage,
    TickOutcome,
    vault,
)
from quietline.client.client import KEYS_PERIOD, MAX_IDLE_WAIT_S, window_back
from quietline.client.handoff import SENT
from quietline.client.records import Reply, SourceRecords
from quietline.clock import FixedClock
from quietline.edge_client import EdgeClient, EdgeUnavailable
from quietline.protocol.api import Direction
from quietline.protocol.deaddrops import B, DeadDrop
from quietline.protocol.errors import ProtocolError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.messages import EncryptedU2C, U2CMessage, parse_u2c, text_reply
from quietline.protocol.recipients import RecipientId, RecipientTag
from quietline.protocol.roles import Revocation
from quietline.runner import run_steps
from quietline.vault import INTERACTIVE
from tests.client.edge_server import RecordedRequest, RunningEdge, published_edge
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

SECRET_TEXT = "the sentinel text 7f3a9c"
TICKS = 240
WRITE_AT_TICK = 20
NEWS_DESK = RecipientId("news_desk")
TEST_BLOCKS = 64


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


@contextmanager
def _client(edge_url: str, folder: Path, org: Organisation) -> Iterator[SourceClient]:
    with EdgeClient(edge_url) as edge:
        yield SourceClient(
            edge,
            [org.anchor],
            _storage(folder),
            # The same seed for both: the schedule is the same for everyone, and a
            # memoryless one must not be steered by what the user does either.
            send_schedule=Memoryless(timedelta(seconds=6), random.Random(1234)),
            download_schedule=FixedRate(timedelta(seconds=60)),
            kdf_cost=INTERACTIVE,
        )


def _storage(folder: Path) -> SourceStorage:
    """A small vault: quick to seal and re-randomise at every send."""
    return SourceStorage(folder, vault_blocks=TEST_BLOCKS)


def _records(storage: SourceStorage, passphrase: str) -> SourceRecords:
    """What the vault file holds, opened as an examiner with the passphrase would."""
    raw = storage.read_vault()
    return SourceRecords.parse(vault.open_vault(vault.VaultKey.derive(passphrase, raw), raw))


@dataclass
class Run:
    sent_at: list[int]
    vault_rewritten_at: list[int]
    requests: list[RecordedRequest]
    sizes: tuple[int, int, int]


def _run(edge: RunningEdge, client: SourceClient, start: datetime, *, write: bool) -> Run:
    storage = client.storage
    first = len(edge.recorder.settled())
    sent_at, rewritten_at = [], []
    for tick in range(TICKS):
        now = start + timedelta(seconds=tick)
        if write and tick == WRITE_AT_TICK:
            client.begin("news_desk", SECRET_TEXT, now=now)
        before = _digest(storage.vault_path) if storage.vault_path.exists() else ""
        outcome = client.tick(now)
        assert not outcome.notes
        if outcome.sent:
            sent_at.append(tick)
        if _digest(storage.vault_path) != before:
            rewritten_at.append(tick)
    sizes = (
        storage.vault_path.stat().st_size,
        storage.cache_path.stat().st_size,
        len(storage.read_cache().dead_drops),
    )
    return Run(sent_at, rewritten_at, edge.recorder.settled()[first:], sizes)


def _now_on_the_minute() -> datetime:
    """Now, rounded down to an even minute: on the grid of every fixed-rate schedule here,
    so ticks whole periods later find their events on time, and where a download every
    minute asks for the newest dead drops (see window_back)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 2)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _queued_u2c(edge: RunningEdge, org: Organisation) -> list[tuple[bytes, U2CMessage | None]]:
    rows = edge.queues.pull(Direction.USER, 0, 10_000, 0)
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
    start = _now_on_the_minute()
    with (
        _client(edge.url, tmp_path / "writer", org) as writer,
        _client(edge.url, tmp_path / "quiet", org) as quiet,
    ):
        written = _run(edge, writer, start, write=True)
        silent = _run(edge, quiet, start, write=False)

    assert len(written.sent_at) > 20
    assert written.sent_at == silent.sent_at
    # Tick 0 installs the vault; after that it changes on every send tick, and only then.
    assert written.vault_rewritten_at == silent.vault_rewritten_at == [0, *written.sent_at]
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
    u2j = real[0].payload.open(org.recipients[NEWS_DESK].messaging.pair)
    assert u2j.text.text() == SECRET_TEXT


def test_a_reply_in_a_user_dead_drop_reaches_inbox(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _now_on_the_minute()
    with _client(edge.url, tmp_path / "source", org) as client:
        client.tick(start)  # downloads keys; nothing is due to send yet
        passphrase, _ = client.begin("news_desk", SECRET_TEXT, now=start)
        tick = 0
        while not _queued_u2c(edge, org) or all(
            u2c is None or u2c.tag.is_cover for _, u2c in _queued_u2c(edge, org)
        ):
            tick += 1
            assert tick < 200, "the real message never left"
            client.tick(start + timedelta(seconds=tick))

        # The desk's side: open the message, reply to its reply key.
        (real,) = [u2c for _, u2c in _queued_u2c(edge, org) if u2c and not u2c.tag.is_cover]
        u2j = real.payload.open(org.recipients[NEWS_DESK].messaging.pair)
        entry = reply_entry(org, "news_desk", u2j.reply_key, text_reply("we got it"))
        with EdgeClient(edge.url) as publisher:
            publisher.publish_dead_drop(user_dead_drop(org, [entry], datetime.now(UTC)))

        assert client.inbox(passphrase, now=start + timedelta(seconds=tick)) == []
        # The next download that asks for the newest window (every other one does: see
        # window_back), ticks a second apart, as `source run` makes them.
        later, replies = tick, list[Reply]()
        while not replies:
            later += 1
            assert later < tick + 200, "the reply was never downloaded"
            if client.tick(start + timedelta(seconds=later)).downloaded:
                replies = client.inbox(passphrase, now=start + timedelta(seconds=later))
        assert [(r.journalist_id, r.kind, r.text) for r in replies] == [
            ("news_desk", "text", "we got it")
        ]
        # The reply is kept in the vault file from the next send on.
        while not client.tick(start + timedelta(seconds=later)).sent:
            later += 1
        records = _records(client.storage, passphrase)
        assert records.user_key.public == u2j.reply_key
        assert [reply.journalist_id for reply in records.replies] == ["news_desk"]


class FlakyEdge:
    """A real edge that can be made unreachable, as a dropped network makes it."""

    def __init__(self, edge: EdgeClient) -> None:
        self.edge = edge
        self.down = False

    def public_keys(self) -> PublishedKeys:
        self._check()
        return self.edge.public_keys()

    def dead_drop_window(self, body_type: type[B], size: int, back: int) -> list[DeadDrop[B]]:
        self._check()
        return self.edge.dead_drop_window(body_type, size, back)

    def send_u2c(self, message: EncryptedU2C) -> None:
        self._check()
        self.edge.send_u2c(message)

    def _check(self) -> None:
        if self.down:
            raise EdgeUnavailable("cannot reach the edge: the network is down")


def test_an_unreachable_edge_is_counted_and_a_real_message_kept_for_the_next_send(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _now_on_the_minute()
    with EdgeClient(edge.url) as connection:
        flaky = FlakyEdge(connection)
        client = SourceClient(
            flaky,
            [org.anchor],
            _storage(tmp_path / "source"),
            send_schedule=FixedRate(timedelta(seconds=10)),
            download_schedule=FixedRate(timedelta(seconds=60)),
            kdf_cost=INTERACTIVE,
        )
        client.tick(start)
        flaky.down = True
        _, queued = client.begin("news_desk", SECRET_TEXT, now=start)
        for second in (10, 20, 30, 40, 50, 60):
            outcome = client.tick(start + timedelta(seconds=second))
            assert not outcome.sent
            assert outcome.notes
        assert client.counters.download_failures == 1
        assert client.counters.send_failures == 6
        assert edge.queues.queue_length(Direction.USER) == 0
        assert client.handoff.wait_sent(queued.ticket, 0) != SENT

        # Back online: the real message goes at the next scheduled send.
        flaky.down = False
        assert client.tick(start + timedelta(seconds=70)).sent
    assert client.handoff.wait_sent(queued.ticket, 0) == SENT
    assert _real_texts(edge, org) == [SECRET_TEXT]


def test_keys_that_do_not_verify_are_refused_and_the_last_good_set_kept(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _now_on_the_minute()
    folder = tmp_path / "source"
    with _client(edge.url, folder, org) as client:
        client.tick(start)
    good = SourceStorage(folder).read_cache().published
    assert good is not None

    impostor = Organisation.create(start - timedelta(hours=1))
    with published_edge(tmp_path / "impostor", impostor) as fake:
        with EdgeClient(fake.url) as admin:
            admin.publish_dead_drop(user_dead_drop(impostor, [], datetime.now(UTC)))
        with _client(fake.url, folder, org) as misled:
            misled.tick(start)
            assert misled.counters.key_sets_refused == 1
            assert misled.counters.dead_drops_refused == 1
            assert misled.storage.read_cache().published == good
            assert misled.storage.read_cache().dead_drops == []
            assert misled.verified_keys(start) is not None
        # A client that never saw a good key set never sends.
        with _client(fake.url, tmp_path / "fresh", org) as fresh:
            for second in range(0, 60):
                assert not fresh.tick(start + timedelta(seconds=second)).sent
            assert fresh.counters.sends == 0
            assert fresh.counters.sends_skipped_without_keys > 0
        assert fake.queues.queue_length(Direction.USER) == 0


def test_sending_while_the_loop_runs_loses_nothing(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _now_on_the_minute()
    folder = tmp_path / "source"
    texts = [f"message {n}" for n in range(12)]
    with _client(edge.url, folder, org) as loop:
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
            deadline = time.monotonic() + 60
            passphrase, _ = loop.begin("news_desk", texts[0], now=start)
            for text in texts[1:]:
                while True:
                    assert time.monotonic() < deadline, "the queue never drained"
                    try:
                        loop.send(passphrase, "news_desk", text, now=start)
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
    assert loop.storage.vault_path.stat().st_size == vault.size(TEST_BLOCKS)
    assert [text for _, text, _ in loop.sent_messages(passphrase)] == texts


def _real_texts(edge: RunningEdge, org: Organisation) -> list[str]:
    key = org.recipients[NEWS_DESK].messaging.pair
    return [
        u2c.payload.open(key).text.text()
        for _, u2c in _queued_u2c(edge, org)
        if u2c is not None and not u2c.tag.is_cover
    ]


class RecordingEdge:
    """A SourceEdge that serves ``published`` and no dead drops, and keeps every U2C."""

    def __init__(self, published: PublishedKeys) -> None:
        self.published = published
        self.sent: list[EncryptedU2C] = []

    def public_keys(self) -> PublishedKeys:
        return self.published

    def dead_drop_window(self, body_type: type[B], size: int, back: int) -> list[DeadDrop[B]]:
        return []

    def send_u2c(self, message: EncryptedU2C) -> None:
        self.sent.append(message)


class HandMovedStop(threading.Event):
    """A stop event whose waits move ``clock`` instead of sleeping, set after ``waits``."""

    def __init__(self, clock: FixedClock, waits: int) -> None:
        super().__init__()
        self.clock = clock
        self.waited: list[float] = []
        self.waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waited.append(timeout)
        self.clock.advance(timedelta(seconds=timeout))
        if len(self.waited) >= self.waits:
            self.set()
        return self.is_set()


def test_the_run_loop_steps_at_every_due_send_and_waits_at_most_a_second(
    org: Organisation, tmp_path: Path
) -> None:
    start = _now_on_the_minute()
    clock = FixedClock(start)
    edge = RecordingEdge(org.published_keys())
    client = SourceClient(
        edge,
        [org.anchor],
        _storage(tmp_path / "source"),
        send_schedule=FixedRate(timedelta(seconds=2.5)),
        download_schedule=FixedRate(timedelta(seconds=60)),
    )
    stop = HandMovedStop(clock, waits=12)
    outcomes: list[TickOutcome] = []

    run_steps(client.tick, clock, stop, pause=client.pause, on_step=outcomes.append)

    # Sends are due every 2.5 s from start + 2.5 s: the loop wakes on each due time and
    # otherwise once a second, so it never oversleeps a send.
    assert stop.waited == [1.0, 1.0, 0.5] * 4
    assert max(stop.waited) <= MAX_IDLE_WAIT_S
    sent = [(o.at - start).total_seconds() for o in outcomes if o.sent]
    assert sent == [2.5, 5.0, 7.5]
    assert [(o.at - start).total_seconds() for o in outcomes if o.downloaded] == [0.0]
    assert all(not o.notes for o in outcomes)
    assert len(outcomes) == 12
    assert len(edge.sent) == client.counters.sends == 3


def test_a_revocation_holds_once_seen_whatever_later_key_sets_leave_out(
    org: Organisation, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hourly = FixedRate(KEYS_PERIOD)  # keys are fetched once a key period
    good = org.published_keys()
    # The organisation revokes the CoverNode's identity (its mixer was seized), but the
    # edge still lists the keys below it: a stale cache, or a hostile edge.
    revocation = Revocation.sign(org.root.pair, org.covernode_identity.published.key, start)
    revoking = replace(good, statements=replace(good.statements, revocations=(revocation,)))
    edge = RecordingEdge(good)
    client = SourceClient(
        edge,
        [org.anchor],
        _storage(tmp_path / "source"),
        send_schedule=hourly,
        download_schedule=hourly,
    )
    assert not client.tick(start).notes
    assert client.tick(start + 1 * KEYS_PERIOD).sent

    edge.published = revoking
    outcome = client.tick(start + 2 * KEYS_PERIOD)
    assert not outcome.sent
    assert outcome.notes == [
        "published keys refused: no valid CoverNode messaging key in it",
        "send skipped: no verified keys yet",
    ]
    assert client.verified_keys(start + 2 * KEYS_PERIOD) is None

    # A later set that leaves the revocation out does not bring the mixer back.
    edge.published = good
    outcome = client.tick(start + 3 * KEYS_PERIOD)
    assert not outcome.sent
    assert client.verified_keys(start + 3 * KEYS_PERIOD) is None
    assert client.counters.key_sets_refused == 2
    assert len(edge.sent) == client.counters.sends == 1
    # A forged revocation is not kept.
    forged = Revocation.sign(Organisation.create(start).root.pair, b"\x01" * 32, start)
    edge.published = replace(good, statements=replace(good.statements, revocations=(forged,)))
    client.tick(start + 4 * KEYS_PERIOD)
    cached = client.storage.read_cache().published
    assert cached is not None
    assert cached.statements.revocations == (revocation,)


def _window_at(held: int, skip: int, size: int) -> set[int]:
    """The positions (0 the oldest of ``held``) of the window skipping the newest ``skip``."""
    return set(range(max(0, held - skip - size), max(0, held - skip)))


@given(st.integers(1, 4), st.integers(1, 12), st.integers(0, 10**9), st.integers(0, 60))
def test_the_sweep_reaches_every_dead_drop_within_its_cycle(
    size: int, sweep: int, first_slot: int, held: int
) -> None:
    """Whatever the slot it starts at, a client sees every dead drop within the newest
    window and the sweep's reach within 2 x (sweep + 1) downloads."""
    seen: set[int] = set()
    for slot in range(first_slot, first_slot + 2 * (sweep + 1)):
        seen |= _window_at(held, window_back(slot, size, sweep), size)
    assert seen == set(range(max(0, held - size * (sweep + 1)), held))


@given(
    st.integers(1, 4),
    st.integers(2, 12),
    st.integers(0, 10**9),
    st.integers(0, 60),
    st.lists(st.integers(0, 6), min_size=40, max_size=40),
)
def test_dead_drops_arriving_between_sweep_steps_never_make_it_skip_one(
    size: int, sweep: int, first_slot: int, held: int, arrivals: list[int]
) -> None:
    """From one step of the sweep to the next (within a cycle), the next window starts
    no further back than where the last one ended, however many dead drops came between."""
    steps: list[tuple[int, int, set[int]]] = []  # (slot, skip, positions)
    for slot, arrived in zip(range(first_slot, first_slot + len(arrivals)), arrivals, strict=True):
        held += arrived
        skip = window_back(slot, size, sweep)
        if skip:
            steps.append((slot, skip, _window_at(held, skip, size)))
    for (_, skip, before), (_, next_skip, after) in itertools.pairwise(steps):
        if next_skip > skip and before:  # the same cycle, and the last window held some
            assert max(after, default=-1) >= min(before) - 1
