"""End-to-end tests of quietline.mixer.service against the real edge app over HTTP.

The edge (create_app over an EdgeStore) runs under uvicorn on a loopback port; sources,
the desk and the mixer talk to it with EdgeClient. Time is a FixedClock shared by the
edge and the test, so mix timeouts and key rotation happen when the test says.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.clock import FixedClock
from quietline.config import MixerConfig
from quietline.edge.store import EdgeStore
from quietline.edge_client import EdgeClient
from quietline.mixer import service
from quietline.mixer.alarm import AlarmSettings
from quietline.mixer.opening import Openers
from quietline.mixer.service import Mixer, MixerReport
from quietline.mixer.state import MixerStore, read_mix_counts
from quietline.protocol.api import Direction, J2CSubmission
from quietline.protocol.certificates import KeyRole
from quietline.protocol.covernode import Pending
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    UserDeadDrop,
    journalist_signed_digest,
    sign_journalist_dead_drop,
)
from quietline.protocol.forms import sign_form
from quietline.protocol.keygen import generate_signing_key
from quietline.protocol.keys import EncryptionKeyPair, PublicSigningKey, ReplyKey
from quietline.protocol.messages import U2C, encrypt_cover_j2c, encrypt_u2c, filler_c2j
from quietline.protocol.mixing import MixingParameters, MixState
from quietline.protocol.verification import VerifiedKeys
from tests.mixer.deployment import (
    RECIPIENT,
    all_dead_drops,
    desk_reads,
    reply,
    send_cover,
    send_real,
    serve_edge,
    user_reads,
)
from tests.mixer.keyfolder import write_covernode_folder
from tests.mixer.workers import kill_a_worker
from tests.support.organisation import COVERNODE_ID, Organisation
from tests.support.queues import Queues, queues_beside

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WEEK = timedelta(weeks=1)
NODE = COVERNODE_ID
U2J = MixingParameters(threshold_min=1, threshold_max=50, timeout=MINUTE, output_size=6)
J2U = MixingParameters(threshold_min=1, threshold_max=50, timeout=MINUTE, output_size=4)


@dataclass
class World:
    tmp: Path
    clock: FixedClock
    org: Organisation
    edge: EdgeClient
    edge_store: EdgeStore
    edge_queues: Queues
    config: MixerConfig
    mixer: Mixer
    mixer_store: MixerStore

    def step(self, advance: timedelta = timedelta(0)) -> MixerReport:
        self.clock.advance(advance)
        report = self.mixer.step(self.clock.now())
        assert report.error is None, report.error
        return report

    def restart(self) -> None:
        """A new mixer process over the same folder and database."""
        self.mixer_store.close()
        self.mixer_store = MixerStore(self.config.database)
        self.mixer = Mixer(
            self.config, self.edge, [self.org.anchor], self.mixer_store, rng=random.Random(8)
        )

    def keys(self) -> VerifiedKeys:
        return self.org.verified(self.edge, self.clock.now())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FixedClock(T0)
    org = Organisation.create(T0, (RECIPIENT,))
    covernode_keys = write_covernode_folder(tmp_path / "covernode", org)
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    with (
        queues_beside(edge_store) as edge_queues,
        serve_edge(edge_store, edge_queues.engine, org, clock) as url,
        EdgeClient(url) as edge,
    ):
        org.publish(edge, T0, covernode=False)
        config = MixerConfig(
            edge_url=url,
            database=tmp_path / "mixer.sqlite3",
            covernode_id=NODE,
            keys=covernode_keys,
            u2j=U2J,
            j2u=J2U,
            poll_seconds=1,
            anchor=tmp_path / "organization.pub.json",
        )
        mixer_store = MixerStore(config.database)
        mixer = Mixer(config, edge, [org.anchor], mixer_store, rng=random.Random(7))
        world = World(
            tmp_path, clock, org, edge, edge_store, edge_queues, config, mixer, mixer_store
        )
        world.step()  # publishes the CoverNode's keys
        yield world
        world.mixer_store.close()
    edge_store.close()


def test_the_first_step_publishes_verifiable_covernode_keys(world: World) -> None:
    keys = world.keys()
    (messaging,) = keys.of_role(KeyRole.COVERNODE_MSG)[NODE]
    assert messaging.key == world.mixer.keys.current_messaging(T0).published.key
    assert len(keys.covernode_wrapping_keys()) == 2


def test_a_real_message_among_cover_reaches_the_desk_once(world: World) -> None:
    keys = world.keys()
    send_cover(world.edge, keys, 5)
    send_real(world.edge, keys, "the documents are in the usual place")
    send_cover(world.edge, keys, 3)

    report = world.step()
    assert (report.pulled, report.cover, report.replayed, report.unreadable) == (9, 8, 0, 0)
    assert (report.released, report.pending[Direction.USER]) == (0, 1)

    report = world.step(MINUTE)
    assert (report.released, report.published, report.pending[Direction.USER]) == (1, 1, 0)
    dead_drops, texts = desk_reads(world.org, world.edge, world.keys())
    assert texts == ["the documents are in the usual place"]
    (dead_drop,) = dead_drops
    assert len(dead_drop.body.entries()) == U2J.output_size
    assert dead_drop.body.epoch == keys.max_epoch

    world.step(MINUTE)  # a later release carries fillers only
    _, texts = desk_reads(world.org, world.edge, world.keys())
    assert texts == ["the documents are in the usual place"]


def test_the_edge_cannot_tell_from_the_acknowledgements_which_submission_was_real(
    world: World,
) -> None:
    """The edge sees how far the mixer acknowledges its queue. Were the acknowledgements
    held at a real message until its dead drop is out, the edge (or whoever seizes it)
    would learn which submission was real, and so which caller wrote."""
    keys = world.keys()
    send_cover(world.edge, keys, 5)
    send_real(world.edge, keys, "the documents are in the usual place")
    send_cover(world.edge, keys, 3)
    assert world.step().pending[Direction.USER] == 1
    report = world.step()  # its next pull acknowledges the page taken in
    assert report.pending[Direction.USER] == 1  # still waiting in the mix
    assert world.edge_queues.queue_length(Direction.USER) == 0
    report = world.step(MINUTE)
    assert (report.released, report.published) == (1, 1)
    assert desk_reads(world.org, world.edge, world.keys())[1] == [
        "the documents are in the usual place"
    ]


def test_the_status_line_does_not_tell_real_from_cover_and_an_idle_step_is_quiet(
    world: World,
) -> None:
    keys = world.keys()
    send_cover(world.edge, keys, 3)
    cover_only = world.step()
    send_cover(world.edge, keys, 2)
    send_real(world.edge, keys, "the documents are in the usual place")
    with_real = world.step()
    assert with_real.pending[Direction.USER] == 1  # a real message does wait in the mix
    assert cover_only.line() == with_real.line() == "took in 3 · dead drops made 0, published 0"
    assert cover_only.did_something
    idle = world.step()
    assert not idle.did_something


def test_a_step_drains_while_pages_come_back_full_and_says_when_more_waits(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of three and two pages a step, so that seven submissions outlast one step.
    monkeypatch.setattr(service, "PAGE_LIMIT", 3)
    monkeypatch.setattr(service, "PAGES_PER_STEP", 2)
    keys = world.keys()
    send_cover(world.edge, keys, 4)
    send_real(world.edge, keys, "behind a backlog")
    send_cover(world.edge, keys, 2)
    first = world.step()
    assert (first.pulled, first.backlog) == (6, True)
    second = world.step()  # at once: the mixer's loop does not wait while there is more
    assert (second.pulled, second.backlog) == (1, False)
    assert world.step().pulled == 0
    assert world.edge_queues.queue_length(Direction.USER) == 0
    world.step(MINUTE)
    assert desk_reads(world.org, world.edge, world.keys())[1] == ["behind a backlog"]


def test_a_mixer_whose_workers_are_killed_delivers_every_message_once(world: World) -> None:
    keys = world.keys()
    texts = [f"message {n}" for n in range(12)]
    with Openers(2) as openers:
        world.mixer = Mixer(
            world.config,
            world.edge,
            [world.org.anchor],
            world.mixer_store,
            rng=random.Random(9),
            openers=openers,
        )
        send_cover(world.edge, keys, 2)
        assert world.step().notes == []  # the workers start

        # A worker killed between steps: the next page finds it gone.
        kill_a_worker()
        send_cover(world.edge, keys, 5)
        for text in texts[:6]:
            send_real(world.edge, keys, text)
        report = world.step()
        assert report.pulled == 11
        assert report.notes == ["a worker process stopped (killed by SIGKILL): started again"]

        # A worker killed while the step runs, opening or not.
        send_cover(world.edge, keys, 5)
        for text in texts[6:]:
            send_real(world.edge, keys, text)
        killer = threading.Timer(0.05, kill_a_worker)
        killer.start()
        assert world.step().pulled == 11
        killer.join()

        world.step(MINUTE)
        send_cover(world.edge, keys, 1)  # six entries a dead drop: a second release
        world.step(MINUTE)
    assert Counter(desk_reads(world.org, world.edge, world.keys())[1]) == Counter(texts)
    world.step()  # acknowledges the last page
    assert world.edge_queues.queue_length(Direction.USER) == 0


def test_a_reply_reaches_the_source(world: World) -> None:
    keys = world.keys()
    source = send_real(world.edge, keys, "hello")
    world.step(MINUTE)
    reply(world.org, world.edge, keys, source, "we read you", world.clock.now())
    cover = encrypt_cover_j2c(keys.covernode_wrapping_keys())
    world.edge.send_j2c(
        sign_form(
            J2CSubmission(cover).to_json(),
            world.org.recipients[RECIPIENT].identity.pair,
            world.clock.now(),
        )
    )
    # The user mix's timeout has run since the mixer started: this step releases.
    report = world.step()
    assert (report.pulled, report.cover, report.released, report.published) == (2, 1, 1, 1)
    assert report.pending[Direction.JOURNALIST] == 0
    assert user_reads(world.edge, world.keys(), source) == ["we read you"]
    assert user_reads(world.edge, world.keys(), EncryptionKeyPair.generate()) == []
    (user_drop,) = all_dead_drops(world.edge, UserDeadDrop)
    assert len(user_drop.body.entries()) == J2U.output_size
    world.step()
    assert world.edge_queues.queue_length(Direction.JOURNALIST) == 0


def test_a_queue_replaced_under_the_mixer_is_read_again_from_its_start(world: World) -> None:
    keys = world.keys()
    send_cover(world.edge, keys, 4)
    send_real(world.edge, keys, "before")
    world.step()
    world.step(MINUTE)
    assert world.mixer_store.cursor(Direction.USER) == 5

    # The edge's queue is replaced by a new one (a lost disk, a restore from an older
    # copy): its sequence numbers start again, far behind the mixer's cursor.
    with closing(sqlite3.connect(world.edge_store.path)) as db, db:
        db.execute("DELETE FROM user_queue")
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'user_queue'")
    for text in ("after 1", "after 2"):
        send_real(world.edge, keys, text)

    report = world.step()
    assert any("queue is behind this mixer's cursor" in note for note in report.notes)
    assert (report.pulled, report.pending[Direction.USER]) == (2, 2)
    world.step(MINUTE)
    _, texts = desk_reads(world.org, world.edge, world.keys())
    assert sorted(texts) == ["after 1", "after 2", "before"]  # nothing deleted unread
    assert world.edge_queues.queue_length(Direction.USER) == 0


def test_a_replayed_message_counts_but_is_delivered_once(world: World) -> None:
    keys = world.keys()
    message = encrypt_u2c(
        keys.covernode_wrapping_keys(),
        recipient_id=RECIPIENT,
        recipient_key=keys.journalist_messaging_key(RECIPIENT),
        reply_key=ReplyKey.of(EncryptionKeyPair.generate()),
        text="only once",
    )
    world.edge.send_u2c(message)
    world.edge.send_u2c(message)
    report = world.step()
    assert (report.pulled, report.replayed, report.pending[Direction.USER]) == (2, 1, 1)
    assert world.mixer_store.mix_state(Direction.USER, U2C).received == 2
    world.step(MINUTE)

    # Replayed again after delivery and after a restart: the digest was persisted.
    world.restart()
    world.edge.send_u2c(message)
    report = world.step()
    assert (report.replayed, report.pending[Direction.USER]) == (1, 0)
    world.step(MINUTE)
    _, texts = desk_reads(world.org, world.edge, world.keys())
    assert texts == ["only once"]


def test_an_unknown_recipient_gets_a_full_size_dead_drop_with_nothing_in_it(
    world: World,
) -> None:
    keys = world.keys()
    # Sealed to the desk's key, but tagged for nobody: the mixer must not deliver it.
    send_real(world.edge, keys, "for nobody", recipient="nobody")
    report = world.step(MINUTE)
    assert (report.pulled, report.cover, report.released) == (1, 0, 1)
    dead_drops, texts = desk_reads(world.org, world.edge, world.keys())
    assert texts == []
    (dead_drop,) = dead_drops
    assert len(dead_drop.body.entries()) == U2J.output_size


def test_keys_rotate_and_the_edge_serves_them(world: World) -> None:
    first_keys = world.keys()
    first_identity = world.mixer.keys.current_identity(T0)
    first_messaging = world.mixer.keys.current_messaging(T0).published.key
    send_real(world.edge, first_keys, "before rotation")
    world.step(MINUTE)
    assert world.mixer_store.replay_digest_count() == 1

    # A week later: a new messaging key, published; the old one still opens inputs.
    report = world.step(WEEK)
    made = [note for note in report.notes if note.startswith("made a new")]
    assert [note.split()[3] for note in made] == ["covernode_msg"]
    week_keys = world.keys()
    published = {k.key for k in week_keys.of_role(KeyRole.COVERNODE_MSG)[NODE]}
    second_messaging = world.mixer.keys.current_messaging(world.clock.now()).published.key
    assert published == {first_messaging, second_messaging}
    assert week_keys.covernode_wrapping_keys()[0].raw == second_messaging
    send_real(world.edge, first_keys, "wrapped for the old key")
    send_real(world.edge, week_keys, "wrapped for the new key")
    world.step(MINUTE)
    _, texts = desk_reads(world.org, world.edge, world.keys())
    assert sorted(texts) == [
        "before rotation",
        "wrapped for the new key",
        "wrapped for the old key",
    ]

    # Two weeks in: the next identity key the admin certified comes into force and signs
    # the queue pulls, the dead drops and the new messaging key (the mixer makes none);
    # the first messaging key has expired, left the disk and taken its replay digest along.
    report = world.step(WEEK)
    assert report.notes[0].split()[3] == "covernode_msg"
    assert not any("covernode_id" in note for note in report.notes)
    send_cover(world.edge, world.keys(), 1)
    world.step(MINUTE)
    now = world.clock.now()
    identity = world.mixer.keys.current_identity(now)
    assert identity.published.key != first_identity.published.key
    assert identity.created_at == T0 + 2 * WEEK  # its turn
    assert world.mixer.keys.parent_of(world.mixer.keys.current_messaging(now)) is identity
    identities = {k.key for k in world.keys().of_role(KeyRole.COVERNODE_ID)[NODE]}
    assert identity.published.key in identities
    newest = all_dead_drops(world.edge, JournalistDeadDrop)[-1].body
    PublicSigningKey(identity.published.key).verify(
        journalist_signed_digest(newest.data, newest.created_at, newest.epoch),
        newest.signature,
    )
    assert newest.epoch == world.keys().max_epoch
    assert first_messaging not in {k.published.key for k in world.mixer.keys.messaging.values()}
    # Two of the three messages came in under the first key: only the third's digest stays.
    assert world.mixer_store.replay_digest_count() == 1


def test_an_unreachable_edge_is_reported_and_retried(world: World) -> None:
    with EdgeClient("http://127.0.0.1:9", timeout=2) as nowhere:
        lost = Mixer(world.config, nowhere, [world.org.anchor], world.mixer_store)
        report = lost.step(world.clock.now())
    assert report.error is not None
    assert "unavailable" in report.error
    assert "unavailable" in report.line()


def test_a_dead_drop_the_edge_refuses_is_signed_again_so_the_queue_moves_on(
    world: World,
) -> None:
    keys = world.keys()
    send_real(world.edge, keys, "held up")
    world.step()
    # As if the mixer had stopped with a dead drop signed by an identity key the edge no
    # longer accepts: here one it never saw.
    stranger = generate_signing_key(KeyRole.COVERNODE_ID, world.org.covernode_provisioning, T0)
    refused = sign_journalist_dead_drop(
        [filler_c2j() for _ in range(U2J.output_size)],
        T0,
        keys.max_epoch,
        identity=stranger.pair,
        identity_not_valid_after=stranger.not_valid_after,
    )
    pending = world.mixer_store.mix_state(Direction.USER, U2C).pending
    released = [item for item in pending if isinstance(item, Pending)]
    assert len(released) == len(pending) == 1
    world.mixer_store.release(Direction.USER, released, MixState(0, T0, ()), refused)
    assert world.edge_queues.queue_length(Direction.USER) == 1

    report = world.step()
    assert report.published == 1
    assert report.notes[0].startswith("signed again a dead drop the edge refused")
    (stored,) = all_dead_drops(world.edge, JournalistDeadDrop)
    assert stored.body.data == refused.data
    stored.body.verify(world.keys())
    world.step()
    assert world.edge_queues.queue_length(Direction.USER) == 0


def fail_once(monkeypatch: pytest.MonkeyPatch, store: MixerStore, method: str) -> None:
    """Make ``store.<method>`` raise a disk error the next time it is called, and only then."""
    real = getattr(store, method)

    def failing(*args: object) -> object:
        monkeypatch.setattr(store, method, real)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, method, failing)


def test_a_page_the_store_failed_to_keep_is_taken_in_again_not_as_a_replay(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lane admitted the message's digest before the store failed: a lane kept across
    # the failure would call the same message a replay when the page is pulled again.
    send_real(world.edge, world.keys(), "kept on the second try")
    fail_once(monkeypatch, world.mixer_store, "ingest")
    with pytest.raises(sqlite3.OperationalError):
        world.mixer.step(world.clock.now())
    assert world.mixer_store.cursor(Direction.USER) == 0
    assert world.mixer_store.replay_digest_count() == 0

    report = world.step()
    assert (report.pulled, report.replayed, report.pending[Direction.USER]) == (1, 0, 1)
    world.step(MINUTE)
    _, texts = desk_reads(world.org, world.edge, world.keys())
    assert texts == ["kept on the second try"]


def test_a_release_the_store_failed_to_keep_is_made_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lane let the message go before the store failed: a lane kept across the failure
    # would have lost it from the mix while the store still holds it pending.
    send_real(world.edge, world.keys(), "released on the second try")
    world.step()
    fail_once(monkeypatch, world.mixer_store, "release")
    world.clock.advance(MINUTE)
    with pytest.raises(sqlite3.OperationalError):
        world.mixer.step(world.clock.now())
    assert world.mixer_store.pending_count(Direction.USER) == 1
    assert world.mixer_store.outbox() == []

    report = world.step()
    assert (report.released, report.published, report.pending[Direction.USER]) == (1, 1, 0)
    world.step()
    assert world.edge_queues.queue_length(Direction.USER) == 0
    world.step(MINUTE)
    _, texts = desk_reads(world.org, world.edge, world.keys())
    assert texts == ["released on the second try"]


# One-minute windows, two to learn from, judged from a dozen inputs on.
FAST_ALARM = AlarmSettings(window=MINUTE, warmup=2, min_count=12)


def alarms_after(world: World, windows: list[tuple[int, int]]) -> list[list[str]]:
    """Each minute, ``cover`` cover and ``real`` real messages reach the edge's queue and
    the mixer steps; the alarm lines of each step (after a first, skipped window)."""
    world.config = replace(world.config, alarm=FAST_ALARM)
    world.restart()
    world.step()
    lines = []
    for cover, real in windows:
        keys = world.keys()
        send_cover(world.edge, keys, cover)
        for n in range(real):
            send_real(world.edge, keys, f"report {n}")
        notes = world.step(MINUTE).notes
        lines.append([note for note in notes if note.startswith("ALARM")])
    return lines


NORMAL_MINUTES = [(6, 14)] * 3


def test_a_flooding_client_raises_the_input_alarm(world: World) -> None:
    lines = alarms_after(world, [*NORMAL_MINUTES, (6 + 200, 14)])
    assert lines[:3] == [[]] * 3
    assert lines[3] == [
        "ALARM u2j: input rate rose more than 8x against the baseline over the last 1 min"
        " window (a flood, or an edge holding messages back? see docs/deploy.md,"
        " 'The input alarm')",
        "ALARM u2j: share of real messages fell more than 8x against the baseline over the"
        " last 1 min window (a flood, or an edge holding messages back? see docs/deploy.md,"
        " 'The input alarm')",
    ]
    assert world.mixer_store.counter("alarm_u2j_rate_up") == 1
    assert world.mixer_store.counter("alarm_u2j_share_down") == 1


def test_an_edge_withholding_all_but_one_message_raises_the_input_alarm(world: World) -> None:
    # The edge passes one real message on and fills the batch with cover of its own.
    lines = alarms_after(world, [*NORMAL_MINUTES, (19, 1)])
    assert lines[:3] == [[]] * 3
    (line,) = lines[3]
    assert line.startswith("ALARM u2j: share of real messages fell more than 8x")
    assert world.mixer_store.counter("alarm_u2j_share_down") == 1
    assert world.mixer_store.counter("alarm_u2j_rate_up") == 0


def test_parameters_too_large_for_the_input_are_warned_about_hourly(world: World) -> None:
    # A threshold_min of 100,000 with a one-minute timeout, fed one input a minute.
    world.config = replace(
        world.config, u2j=replace(U2J, threshold_min=100_000, threshold_max=10**6)
    )
    world.restart()
    world.step()

    def warnings(advance: timedelta) -> list[str]:
        send_cover(world.edge, world.keys(), 1)
        return [note for note in world.step(advance).notes if note.startswith("u2j:")]

    # Nothing said before ten minutes of observation ...
    assert [warnings(MINUTE) for _ in range(9)] == [[]] * 9
    assert warnings(MINUTE) == [
        "u2j: at the current 0.017 inputs a second the next release is in 69.4 days"
        " (threshold_min 100000, 10 inputs so far): the mixing is sized for a larger crowd;"
        " see docs/deploy.md, 'Mixing sized to the crowd'"
    ]
    # ... then once an hour.
    assert warnings(30 * MINUTE) == []
    (again,) = warnings(30 * MINUTE)
    assert again.startswith("u2j: at the current 0.0029 inputs a second")
    report = world.step()
    forecast = report.forecasts[Direction.USER]
    assert forecast.received == 12
    # What `quietline status` reads beside the mixer: the same counts.
    assert read_mix_counts(world.config.database)[Direction.USER] == (12, forecast.last_release)
