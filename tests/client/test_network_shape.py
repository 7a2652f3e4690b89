"""The source client's network shape does not depend on what its user does or did.

What is measured, against the real edge app on loopback: a ``begin``, ``send`` or
``inbox`` caught in the middle of its key derivation does not delay a scheduled send or
download (the run loop never waits on anything the user side holds); every request
travels on a connection of its own, whatever the timing; and the dead-drop download of
every period is one request for a window that depends on the time alone, the same for
a fresh install, a long-running client and one back from an absence, which the sweep
catches up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.client import FixedRate, SourceClient, SourceEdge, SourceStorage, TickOutcome
from quietline.client import vault as vaults
from quietline.client.client import DEAD_DROP_WINDOW
from quietline.client.records import SourceRecords
from quietline.client.schedule import GRID_ORIGIN
from quietline.edge_client import EdgeClient
from quietline.protocol.api import Direction
from quietline.protocol.deaddrops import dead_drop_page
from quietline.protocol.errors import ProtocolError
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import EncryptedU2C, parse_u2c, text_reply
from quietline.protocol.recipients import RecipientId
from quietline.vault import INTERACTIVE
from tests.client.edge_server import RecordedRequest, RunningEdge
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

# Only a guard against a hang: a tick that waits on the user's key derivation waits for
# as long as the derivation is held, which is until this runs out.
HANG_GUARD_S = 60.0
SEND_PERIOD = timedelta(seconds=10)
DOWNLOAD_PERIOD = timedelta(seconds=60)
BLOCKS = 48
SWEEP = 4  # windows the sweep goes back: the test's absence fits in it


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


def _on_the_hour() -> datetime:
    """Now rounded down to the hour: the start of a key period."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _on_the_minute() -> datetime:
    """Now rounded down to the minute: on the grid of both schedules here."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _source_client(edge: SourceEdge, folder: Path, org: Organisation) -> SourceClient:
    return SourceClient(
        edge,
        [org.anchor],
        SourceStorage(folder, vault_blocks=BLOCKS),
        send_schedule=FixedRate(SEND_PERIOD),
        download_schedule=FixedRate(DOWNLOAD_PERIOD),
        sweep_windows=SWEEP,
        kdf_cost=INTERACTIVE,
    )


@contextmanager
def _client(edge_url: str, folder: Path, org: Organisation) -> Iterator[SourceClient]:
    with EdgeClient(edge_url) as edge:
        yield _source_client(edge, folder, org)


class HeldDerivation:
    """The real key derivation, which starts and then waits until released: the user
    side caught in the slowest part of ``begin``, ``send`` or ``inbox``."""

    def __init__(self) -> None:
        self.deriving = threading.Event()
        self.release = threading.Event()
        self._derive = vaults.VaultKey.derive

    def __call__(self, passphrase: str, raw: bytes) -> vaults.VaultKey:
        self.deriving.set()
        self.release.wait(HANG_GUARD_S)
        return self._derive(passphrase, raw)


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    return thread, results


def _tick_while_held(client: SourceClient, now: datetime) -> TickOutcome:
    thread, results = _in_thread(lambda: client.tick(now))
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "the tick waited on work held outside the run loop"
    (outcome,) = results
    assert isinstance(outcome, TickOutcome)
    return outcome


def test_a_slow_vault_re_randomisation_never_delays_a_download(
    edge: RunningEdge, org: Organisation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a slow device re-randomising the vault takes seconds: a download due meanwhile
    is made on time, and the next send takes the vault once it is ready."""
    start = _on_the_minute()
    half_past = FixedRate(DOWNLOAD_PERIOD, GRID_ORIGIN + DOWNLOAD_PERIOD / 2)
    release, running = threading.Event(), threading.Event()
    rerandomise = vaults.rerandomise

    def slow(raw: bytes) -> bytes:
        running.set()
        release.wait(HANG_GUARD_S)
        return rerandomise(raw)

    with EdgeClient(edge.url) as connection:
        client = SourceClient(
            connection,
            [org.anchor],
            SourceStorage(tmp_path / "source", vault_blocks=BLOCKS),
            send_schedule=half_past,
            download_schedule=FixedRate(DOWNLOAD_PERIOD),
            kdf_cost=INTERACTIVE,
        )
        assert client.tick(start).downloaded
        monkeypatch.setattr(vaults, "rerandomise", slow)
        assert _tick_while_held(client, start + DOWNLOAD_PERIOD / 2).sent
        assert running.wait(HANG_GUARD_S)
        outcome = _tick_while_held(client, start + DOWNLOAD_PERIOD)
        assert outcome.downloaded
        assert not outcome.sent
        release.set()
        written = client.storage.read_vault()
        assert client.tick(start + DOWNLOAD_PERIOD * 1.5).sent
        assert client.storage.read_vault() != written
        client.stop()


@pytest.mark.parametrize("action", ["begin", "send", "inbox"])
def test_a_users_key_derivation_never_delays_a_tick(
    edge: RunningEdge,
    org: Organisation,
    tmp_path: Path,
    action: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = _on_the_minute()
    with _client(edge.url, tmp_path / "source", org) as client:
        assert client.tick(start).downloaded
        passphrase, _ = client.begin("news_desk", "an earlier message", now=start)
        held = HeldDerivation()
        monkeypatch.setattr(vaults.VaultKey, "derive", held)
        user_side: dict[str, Callable[[], object]] = {
            "begin": lambda: client.begin("news_desk", "hello", now=start),
            "send": lambda: client.send(passphrase, "news_desk", "hello", now=start),
            "inbox": lambda: client.inbox(passphrase, start),
        }
        user, answers = _in_thread(user_side[action])
        try:
            assert held.deriving.wait(HANG_GUARD_S)
            # Every send of a minute and the download at its end, while it is held.
            for k in range(1, 7):
                outcome = _tick_while_held(client, start + k * SEND_PERIOD)
                assert outcome.sent
                assert not outcome.notes
            assert outcome.downloaded
        finally:
            held.release.set()
            user.join(HANG_GUARD_S)
        assert not user.is_alive()
        assert answers


class SendingEdge:
    """The real edge, through an ``EdgeClient``, with ``during_send`` run while each U2C
    is on its way (before it is posted): the user acting at the worst moment."""

    def __init__(self, edge: EdgeClient) -> None:
        self._edge = edge
        self.during_send: Callable[[], object] = lambda: None
        self.public_keys = edge.public_keys
        self.dead_drop_window = edge.dead_drop_window

    def send_u2c(self, message: EncryptedU2C) -> None:
        self.during_send()
        self._edge.send_u2c(message)


def test_a_message_queued_while_a_send_is_on_its_way_goes_at_the_next_send(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _on_the_minute()
    with EdgeClient(edge.url) as real_edge:
        interleaving = SendingEdge(real_edge)
        client = _source_client(interleaving, tmp_path / "source", org)
        assert client.tick(start).downloaded
        passphrase, _ = client.begin("news_desk", "an earlier message", now=start)
        assert client.tick(start + SEND_PERIOD).sent
        queued: list[str] = []

        def queue_once() -> None:
            if not queued:
                sent = client.send(passphrase, "news_desk", "sent mid-flight", now=start)
                queued.append(sent.recipient_id)

        interleaving.during_send = queue_once
        assert client.tick(start + 2 * SEND_PERIOD).sent  # cover: its vault came too late
        assert queued == ["news_desk"]
        assert client.handoff.waiting() == 1
        assert client.tick(start + 3 * SEND_PERIOD).sent
        assert client.handoff.waiting() == 0
        raw = client.storage.read_vault()
        key = vaults.VaultKey.derive(passphrase, raw)
        records = SourceRecords.parse(vaults.open_vault(key, raw))
        assert [m.text.text() for m in records.sent] == ["an earlier message", "sent mid-flight"]
    assert _real_texts(edge, org) == ["an earlier message", "sent mid-flight"]


def _real_texts(edge: RunningEdge, org: Organisation) -> list[str]:
    key = org.recipients[RecipientId("news_desk")].messaging.pair
    texts = []
    for _, data in edge.queues.pull(Direction.USER, 0, 10_000, 0):
        try:
            u2c = parse_u2c(data).open(org.covernode_messaging.pair)
        except ProtocolError:
            continue  # a fresh install's random slot: cover too
        if not u2c.tag.is_cover:
            texts.append(u2c.payload.open(key).text.text())
    return texts


def test_every_request_travels_on_a_connection_of_its_own(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _on_the_minute()
    with _client(edge.url, tmp_path / "source", org) as client:
        for second in range(0, 121, 10):
            assert not client.tick(start + timedelta(seconds=second)).notes
    requests = edge.recorder.requests
    assert len(requests) >= 15
    connections = [request.connection for request in requests]
    assert all(connections)
    assert len(set(connections)) == len(connections)


def test_by_default_both_schedules_sit_on_the_installations_random_phases(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    now = datetime(2026, 5, 1, 9, 30, 12, 345000, tzinfo=UTC)
    first_sends = set()
    connection = EdgeClient(edge.url)  # not used: starting makes no request
    for n in range(5):
        storage = SourceStorage(tmp_path / str(n), vault_blocks=BLOCKS)
        sends, downloads = SourceClient(connection, [org.anchor], storage).start(now)
        send_grid = FixedRate.with_phase(timedelta(minutes=1), storage.schedule_phase("send"))
        assert sends.next_at == send_grid.next_after(now)
        assert downloads.next_at == now  # a download when the client starts
        assert not downloads.fire(now + timedelta(seconds=2))  # missed: skipped
        download_grid = FixedRate.with_phase(
            timedelta(minutes=5), storage.schedule_phase("download")
        )
        assert downloads.next_at == download_grid.next_after(now + timedelta(seconds=2))
        # A restart lands on the same grid.
        again, _ = SourceClient(connection, [org.anchor], storage).start(now + timedelta(hours=3))
        assert (again.next_at - sends.next_at) % timedelta(minutes=1) == timedelta(0)
        first_sends.add(sends.next_at)
    assert len(first_sends) == 5
    connection.close()


def _publish_dead_drops(
    edge: RunningEdge,
    org: Organisation,
    texts: list[str | None],
    reader: ReplyKey | None = None,
) -> None:
    """One user dead drop per entry of ``texts``: filler only for None, else a reply to
    the source whose reply key is ``reader``."""
    with EdgeClient(edge.url) as publisher:
        for text in texts:
            entries = []
            if text is not None:
                assert reader is not None
                entries = [reply_entry(org, "news_desk", reader, text_reply(text))]
            publisher.publish_dead_drop(user_dead_drop(org, entries, datetime.now(UTC)))


def _window_page(org: Organisation) -> bytes:
    """A page of one window of dead drops with one-digit ids, as the edge writes it."""
    drop = user_dead_drop(org, [], datetime.now(UTC))
    return dead_drop_page([drop.published(n) for n in range(DEAD_DROP_WINDOW)], 2**20)


def _dead_drop_requests(edge: RunningEdge, since: int) -> list[RecordedRequest]:
    return [r for r in edge.recorder.requests[since:] if r.path == "/v1/user/dead-drops"]


def _download(edge: RunningEdge, client: SourceClient, now: datetime) -> RecordedRequest:
    """Tick ``client`` at ``now``, where a download is due; the one request it made for
    user dead drops."""
    since = len(edge.recorder.requests)
    outcome = client.tick(now)
    assert outcome.downloaded
    assert not outcome.notes
    (request,) = _dead_drop_requests(edge, since)
    return request


def test_a_fresh_install_downloads_exactly_what_a_long_running_client_does(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _on_the_hour()
    with _client(edge.url, tmp_path / "old", org) as old:
        _publish_dead_drops(edge, org, [None] * 5)  # history before either existed
        for minute in range(4):
            _publish_dead_drops(edge, org, [None])
            _download(edge, old, start + minute * DOWNLOAD_PERIOD)
    moment = start + 4 * DOWNLOAD_PERIOD
    _publish_dead_drops(edge, org, [None])
    # The long-running client starts again (as after a reboot) as the fresh one starts.
    with (
        _client(edge.url, tmp_path / "old", org) as old,
        _client(edge.url, tmp_path / "new", org) as new,
    ):
        before = len(edge.recorder.requests)
        long_running = _download(edge, old, moment)
        middle = len(edge.recorder.requests)
        fresh = _download(edge, new, moment)
        # Both requests (keys, then the dead-drop window): method, path, query, headers,
        # body size and answer size.
        made = edge.recorder.requests
        assert [r.path for r in made[before:middle]] == ["/v1/public-keys", "/v1/user/dead-drops"]
        assert made[before:middle] == made[middle:]
        assert [r.answer_size for r in made[before:middle]] == [
            r.answer_size for r in made[middle:]
        ]
        assert fresh == long_running
        # The fresh install holds that window, not the history before it.
        held = [{d.id for d in c.storage.read_cache().dead_drops} for c in (old, new)]
        assert len(held[1]) == DEAD_DROP_WINDOW
        assert held[1] <= held[0]


def test_what_a_download_asks_depends_on_the_time_alone_and_a_long_absence_is_swept_up(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    start = _on_the_hour()
    with (
        _client(edge.url, tmp_path / "steady", org) as steady,
        _client(edge.url, tmp_path / "away", org) as away,
    ):
        _publish_dead_drops(edge, org, [None] * 3)
        pairs = [tuple(_download(edge, c, start) for c in (steady, away))]
        passphrase, _ = away.begin("news_desk", "hello", now=start)
        assert away.tick(start + SEND_PERIOD).sent  # its vault is written, then it stops
        raw = away.storage.read_vault()
        records = SourceRecords.parse(
            vaults.open_vault(vaults.VaultKey.derive(passphrase, raw), raw)
        )
        reader = ReplyKey.of(records.user_key)
        # Away (stopped) for eight periods, while seven dead drops came, the reply in the
        # oldest of them.
        missed = ["the oldest missed reply", *[None] * 6]
        for minute in range(1, 9):
            if missed:
                _publish_dead_drops(edge, org, [missed.pop(0)], reader)
            _download(edge, steady, start + minute * DOWNLOAD_PERIOD)
    with (
        _client(edge.url, tmp_path / "steady", org) as steady,
        _client(edge.url, tmp_path / "away", org) as back,
    ):
        found_after = None
        for period in range(2 * SWEEP):
            now = start + (9 + period) * DOWNLOAD_PERIOD
            pairs.append((_download(edge, steady, now), _download(edge, back, now)))
            if found_after is None and back.inbox(passphrase, now):
                found_after = period + 1
        # The reply, six dead drops behind the newest, is found by the sweep within its
        # cycle of 2 x SWEEP periods.
        assert found_after is not None
        assert [r.text for r in back.inbox(passphrase, now)] == ["the oldest missed reply"]
    # In every period, the client that never left and the one back from its absence
    # asked the same question and got answers of one size; every request has one length
    # and one shape.
    for steady_request, back_request in pairs:
        assert steady_request.query == back_request.query
        assert steady_request.answer_size == back_request.answer_size
    requests = [r for pair in pairs for r in pair]
    assert len({len(r.query) for r in requests}) == 1
    assert {r.shape() for r in requests} == {requests[0].shape()}
