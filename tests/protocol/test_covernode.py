"""Tests for quietline.protocol.covernode: what the CoverNode decides, with no I/O.

Keys come from a test organisation made at ``T0`` (one CoverNode, one recipient); the
time is passed in and the shuffle is a seeded ``random.Random``. The opening functions
get real and cover submissions and keys that do not fit; a :class:`Lane` is fed pages by
hand to check every verdict, count and replay rule; the dead-drop builders' output is
read back as the desk and the source read it. The last tests drive lanes the way the
mixer service does, against a recording store, and rebuild them from what it kept.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import pytest

from quietline.protocol.api import Direction
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import U2C_MESSAGE_LEN
from quietline.protocol.covernode import (
    FILLER,
    JOURNALIST_LANE,
    USER_LANE,
    Intake,
    Lane,
    LaneSpec,
    Opened,
    Pending,
    Released,
    Verdict,
    c2j_entry,
    journalist_dead_drop,
    open_j2c,
    open_u2c,
    real_of,
    user_dead_drop,
)
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    UserTrialDecryptor,
)
from quietline.protocol.errors import KeyUnavailable, MisuseError
from quietline.protocol.keys import CoverNodeMessagingKey, EncryptionKeyPair, ReplyKey
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    ENCRYPTED_J2U,
    ENCRYPTED_U2C,
    U2C,
    EncryptedJ2C,
    EncryptedJ2U,
    EncryptedU2C,
    U2CMessage,
    encrypt_cover_j2c,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    text_reply,
)
from quietline.protocol.mixing import (
    MixBatch,
    MixingParameters,
    MixState,
    ReplayFilter,
    replay_digest,
)
from quietline.protocol.recipients import RecipientTag
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from tests.support.organisation import Organisation

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DESK = "news_desk"
# Release at 4 inputs, or at 1 once a minute has passed; 3 entries a dead drop.
PARAMS = MixingParameters(threshold_min=1, threshold_max=4, timeout=MINUTE, output_size=3)
K = TypeVar("K")


@dataclass(frozen=True)
class World:
    org: Organisation
    keys: VerifiedKeys

    @property
    def node(self) -> EncryptionKeyPair:
        """The CoverNode messaging key pair that opens submissions."""
        return self.org.covernode_messaging.pair

    def desk_reads(self, dead_drop: JournalistDeadDrop) -> list[str]:
        desk = JournalistTrialDecryptor(
            [self.org.recipients[DESK].messaging.pair], [CoverNodeMessagingKey.of(self.node)]
        )
        return [m.message.text.text() for m in desk.open(dead_drop.published(1))]

    def user_reads(self, source: EncryptionKeyPair, dead_drop: UserDeadDrop) -> list[str]:
        reader = UserTrialDecryptor(source, self.keys)
        return [reply.message.body.text() for reply in reader.open(dead_drop.published(1))]


@pytest.fixture(scope="module")
def world() -> World:
    org = Organisation.create(T0, (DESK,))
    return World(org, verify_published_keys(org.published_keys(), [org.anchor], T0).verified)


def real_u2c(world: World, text: str, recipient: str = DESK) -> EncryptedU2C:
    """A source's message, sealed to the desk's key whatever ``recipient`` tags it for."""
    return encrypt_u2c(
        world.keys.covernode_wrapping_keys(),
        recipient_id=recipient,
        recipient_key=world.keys.journalist_messaging_key(DESK),
        reply_key=ReplyKey.of(EncryptionKeyPair.generate()),
        text=text,
    )


def real_j2c(world: World, source: EncryptionKeyPair, text: str) -> EncryptedJ2C:
    return encrypt_j2c(
        world.keys.covernode_wrapping_keys(),
        world.org.recipients[DESK].messaging.pair,
        ReplyKey.of(source),
        text_reply(text),
    )


def opened_u2c(world: World, box: EncryptedU2C) -> Opened[U2CMessage]:
    opened = open_u2c(box, [world.node])
    assert opened is not None
    return opened


def lane(rng: int = 1, replays: ReplayFilter | None = None) -> Lane[Any]:
    # Not ``replays or ...``: an empty filter has no length, so it is falsy.
    filter_ = ReplayFilter() if replays is None else replays
    return Lane(PARAMS, MixState(0, T0, ()), filter_, random.Random(rng))


# --- opening ---------------------------------------------------------------------------------


class TestOpenU2C:
    def test_a_real_message_keeps_its_tag_and_sealed_u2j(self, world: World) -> None:
        opened = opened_u2c(world, real_u2c(world, "the documents"))
        assert opened.key == world.node.public.raw
        assert opened.kept is not None
        assert opened.kept.tag == RecipientTag.of(DESK)
        assert opened.plaintext == opened.kept.to_bytes()
        assert len(opened.plaintext) == U2C_MESSAGE_LEN
        u2j = opened.kept.payload.open(world.org.recipients[DESK].messaging.pair)
        assert u2j.text.text() == "the documents"

    def test_cover_opens_but_keeps_nothing(self, world: World) -> None:
        opened = open_u2c(encrypt_cover_u2c(world.keys.covernode_wrapping_keys()), [world.node])
        assert opened is not None
        assert opened.kept is None
        assert opened.key == world.node.public.raw
        assert len(opened.plaintext) == U2C_MESSAGE_LEN

    def test_whichever_key_fits_opens_it_and_is_named(self, world: World) -> None:
        stranger = EncryptionKeyPair.generate()
        opened = open_u2c(real_u2c(world, "hello"), [stranger, world.node])
        assert opened is not None
        assert opened.key == world.node.public.raw

    def test_wrong_keys_no_keys_and_garbage_open_nothing(self, world: World) -> None:
        box = real_u2c(world, "hello")
        assert open_u2c(box, [EncryptionKeyPair.generate()]) is None
        assert open_u2c(box, []) is None
        garbage = ENCRYPTED_U2C.decode(bytes(ENCRYPTED_U2C.size))
        assert open_u2c(garbage, [world.node]) is None

    def test_what_was_opened_does_not_show_in_a_repr(self) -> None:
        assert "secret" not in repr(Opened(b"key", b"secret", b"secret"))
        assert "secret" not in repr(Pending(b"secret"))


class TestOpenJ2C:
    def test_a_real_reply_keeps_its_boxed_j2u(self, world: World) -> None:
        source = EncryptionKeyPair.generate()
        opened = open_j2c(real_j2c(world, source, "we read you"), [world.node])
        assert opened is not None
        assert opened.key == world.node.public.raw
        assert opened.kept is not None
        assert opened.plaintext == b"\x01" + opened.kept.data
        desk = world.org.recipients[DESK].messaging.pair
        assert opened.kept.open(source, desk.public).body.text() == "we read you"

    def test_cover_opens_but_keeps_nothing(self, world: World) -> None:
        opened = open_j2c(encrypt_cover_j2c(world.keys.covernode_wrapping_keys()), [world.node])
        assert opened is not None
        assert opened.kept is None
        assert opened.plaintext[0] == 0

    def test_wrong_keys_open_nothing(self, world: World) -> None:
        box = real_j2c(world, EncryptionKeyPair.generate(), "hi")
        assert open_j2c(box, [EncryptionKeyPair.generate()]) is None
        assert open_j2c(box, []) is None


# --- the lane --------------------------------------------------------------------------------


class TestLaneTake:
    def test_each_submission_gets_its_verdict(self, world: World) -> None:
        cover = open_u2c(encrypt_cover_u2c(world.keys.covernode_wrapping_keys()), [world.node])
        real = opened_u2c(world, real_u2c(world, "one"))
        the_lane = lane()
        intake = the_lane.take([(3, cover), (4, None), (5, real), (6, real)])
        assert intake.verdicts == (
            Verdict.COVER,
            Verdict.UNREADABLE,
            Verdict.REAL,
            Verdict.REPLAYED,
        )
        assert intake.cursor == 6
        # Cover and the replay count toward the thresholds; the unreadable do not.
        assert intake.received == 3
        assert intake.real == (Pending(real.kept),)
        assert intake.digests == ((world.node.public.raw, replay_digest(real.plaintext)),)
        assert [intake.count(v) for v in Verdict] == [1, 1, 1, 1]
        assert (the_lane.pending, the_lane.state().received) == (1, 3)

    def test_an_empty_page_changes_nothing(self) -> None:
        the_lane = lane()
        assert the_lane.take([]) == Intake(0, 0, (), (), ())
        assert the_lane.state() == MixState(0, T0, ())

    def test_a_page_of_the_unreadable_moves_only_the_cursor(self) -> None:
        intake = lane().take([(7, None), (9, None)])
        assert (intake.cursor, intake.received, intake.real) == (9, 0, ())

    def test_a_replay_on_a_later_page_is_caught(self, world: World) -> None:
        real = opened_u2c(world, real_u2c(world, "one"))
        the_lane = lane()
        the_lane.take([(1, real)])
        intake = the_lane.take([(2, real)])
        assert intake.verdicts == (Verdict.REPLAYED,)
        assert (intake.received, intake.real, intake.digests) == (1, (), ())
        assert the_lane.pending == 1

    def test_replays_are_told_apart_per_messaging_key(self, world: World) -> None:
        real = opened_u2c(world, real_u2c(world, "one"))
        under_another_key = replace(real, key=b"\x01" * 32)
        intake = lane().take([(1, real), (2, under_another_key)])
        assert intake.verdicts == (Verdict.REAL, Verdict.REAL)
        assert [key for key, _ in intake.digests] == [real.key, b"\x01" * 32]

    def test_digests_a_store_kept_still_catch_replays(self, world: World) -> None:
        real = opened_u2c(world, real_u2c(world, "one"))
        first = lane().take([(1, real)])
        rebuilt = lane(replays=ReplayFilter(first.digests))
        assert rebuilt.take([(2, real)]).verdicts == (Verdict.REPLAYED,)

    def test_forgotten_keys_let_their_digests_go(self, world: World) -> None:
        real = opened_u2c(world, real_u2c(world, "one"))
        replays = ReplayFilter()
        the_lane = lane(replays=replays)
        the_lane.take([(1, real)])
        replays.forget_all_but([real.key])
        assert the_lane.take([(2, real)]).verdicts == (Verdict.REPLAYED,)
        replays.forget_all_but([])
        assert the_lane.take([(3, real)]).verdicts == (Verdict.REAL,)

    def test_both_lanes_share_one_replay_filter(self, world: World) -> None:
        replays = ReplayFilter()
        real = opened_u2c(world, real_u2c(world, "one"))
        lane(replays=replays).take([(1, real)])
        assert len(replays) == 1
        assert lane(replays=replays).take([(1, real)]).verdicts == (Verdict.REPLAYED,)


class TestLaneRelease:
    def test_a_release_is_full_size_with_fillers_where_no_real_input_is(self, world: World) -> None:
        first = opened_u2c(world, real_u2c(world, "one"))
        second = opened_u2c(world, real_u2c(world, "two"))
        the_lane = lane()
        the_lane.take([(1, first), (2, second)])
        assert not the_lane.due(T0 + MINUTE - timedelta(microseconds=1))
        with pytest.raises(MisuseError):
            the_lane.release(T0)
        assert the_lane.due(T0 + MINUTE)
        batch = the_lane.release(T0 + MINUTE)
        assert batch.released_at == T0 + MINUTE
        assert len(batch.entries) == PARAMS.output_size
        assert batch.entries.count(FILLER) == 1
        assert real_of(batch) == [Pending(first.kept), Pending(second.kept)]
        assert the_lane.pending == 0
        assert the_lane.state() == MixState(0, T0 + MINUTE, ())

    def test_a_release_takes_at_most_output_size_oldest_first(self, world: World) -> None:
        opened = [opened_u2c(world, real_u2c(world, f"m{n}")) for n in range(4)]
        the_lane = lane()
        the_lane.take(list(enumerate(opened, 1)))
        assert the_lane.due(T0)  # threshold_max inputs arrived
        batch = the_lane.release(T0)
        assert FILLER not in batch.entries
        assert [item.kept for item in real_of(batch)] == [o.kept for o in opened[:3]]
        state = the_lane.state()
        assert state.received == 0
        assert state.pending == (Pending(opened[3].kept),)

    def test_the_shuffle_follows_the_rng(self, world: World) -> None:
        opened = [opened_u2c(world, real_u2c(world, f"m{n}")) for n in range(3)]

        def order(seed: int) -> list[object]:
            the_lane = lane(seed)
            the_lane.take(list(enumerate(opened, 1)))
            return [
                item.kept if isinstance(item, Pending) else item
                for item in the_lane.release(T0 + MINUTE).entries
            ]

        assert order(5) == order(5)
        assert len({tuple(order(seed)) for seed in range(20)}) > 1


# --- dead drops -------------------------------------------------------------------------------


def batch_of(*items: Released[K]) -> MixBatch[Released[K]]:
    return MixBatch(T0 + MINUTE, tuple(items), tuple(i for i in items if isinstance(i, Pending)))


class TestC2JEntry:
    def test_a_real_message_is_forwarded_to_its_recipients_newest_key(self, world: World) -> None:
        opened = opened_u2c(world, real_u2c(world, "for the desk"))
        assert opened.kept is not None
        entry = c2j_entry(opened.kept, world.node, world.keys)
        assert len(entry.data) == ENCRYPTED_C2J.size
        desk = JournalistTrialDecryptor(
            [world.org.recipients[DESK].messaging.pair], [CoverNodeMessagingKey.of(world.node)]
        )
        message = desk.open_entry(entry)
        assert message is not None
        assert message.text.text() == "for the desk"

    def test_a_tag_nobody_publishes_gets_a_filler(self, world: World) -> None:
        opened = opened_u2c(world, real_u2c(world, "for nobody", recipient="nobody"))
        assert opened.kept is not None
        entry = c2j_entry(opened.kept, world.node, world.keys)
        assert len(entry.data) == ENCRYPTED_C2J.size
        desk = JournalistTrialDecryptor(
            [world.org.recipients[DESK].messaging.pair], [CoverNodeMessagingKey.of(world.node)]
        )
        assert desk.open_entry(entry) is None

    def test_a_recipient_without_a_valid_key_gets_a_filler(self, world: World) -> None:
        opened = opened_u2c(world, real_u2c(world, "too late"))
        assert opened.kept is not None
        keyless = replace(
            world.keys,
            keys=tuple(k for k in world.keys.keys if k.role is not KeyRole.JOURNALIST_MSG),
        )
        assert [p.id for p in keyless.profiles] == [DESK]
        with pytest.raises(KeyUnavailable):
            keyless.journalist_messaging_key(DESK)
        entry = c2j_entry(opened.kept, world.node, keyless)
        desk = JournalistTrialDecryptor(
            [world.org.recipients[DESK].messaging.pair], [CoverNodeMessagingKey.of(world.node)]
        )
        assert len(entry.data) == ENCRYPTED_C2J.size
        assert desk.open_entry(entry) is None


class TestJournalistDeadDrop:
    def test_a_release_becomes_a_signed_full_size_journalist_dead_drop(self, world: World) -> None:
        opened = opened_u2c(world, real_u2c(world, "inside"))
        assert opened.kept is not None
        batch: MixBatch[Released[U2CMessage]] = batch_of(FILLER, Pending(opened.kept), FILLER)
        dead_drop = journalist_dead_drop(
            batch, world.node, world.org.covernode_identity, world.keys
        )
        assert len(dead_drop.entries()) == PARAMS.output_size
        assert dead_drop.epoch == world.keys.max_epoch
        assert dead_drop.created_at == (T0 + MINUTE).replace(microsecond=0)
        dead_drop.verify(world.keys)
        assert world.desk_reads(dead_drop) == ["inside"]

    def test_an_expired_identity_signs_nothing(self, world: World) -> None:
        identity = world.org.covernode_identity
        late: MixBatch[Released[U2CMessage]] = MixBatch(
            identity.not_valid_after + MINUTE, (FILLER,), ()
        )
        with pytest.raises(KeyUnavailable):
            journalist_dead_drop(late, world.node, identity, world.keys)


class TestUserDeadDrop:
    def test_a_release_becomes_a_signed_full_size_user_dead_drop(self, world: World) -> None:
        source = EncryptionKeyPair.generate()
        opened = open_j2c(real_j2c(world, source, "we read you"), [world.node])
        assert opened is not None
        assert opened.kept is not None
        batch = batch_of(FILLER, FILLER, Pending(opened.kept))
        dead_drop = user_dead_drop(batch, world.org.covernode_identity)
        entries = dead_drop.entries()
        assert len(entries) == PARAMS.output_size
        assert entries[2] == opened.kept
        assert dead_drop.created_at == (T0 + MINUTE).replace(microsecond=0)
        dead_drop.verify(world.keys)
        assert world.user_reads(source, dead_drop) == ["we read you"]
        assert world.user_reads(EncryptionKeyPair.generate(), dead_drop) == []

    def test_an_expired_identity_signs_nothing(self, world: World) -> None:
        identity = world.org.covernode_identity
        late: MixBatch[Released[EncryptedJ2U]] = MixBatch(
            identity.not_valid_after + MINUTE, (FILLER,), ()
        )
        with pytest.raises(KeyUnavailable):
            user_dead_drop(late, identity)


# --- driving lanes as the mixer does ----------------------------------------------------------


@dataclass
class RecordingStore(Generic[K]):
    """A store for one lane that records what the lane told it to keep, encoded with the
    lane's ``kept`` codec as the mixer's SQLite store writes it."""

    spec: LaneSpec[Any, K]
    received: int = 0
    last_release: datetime = T0
    cursor: int = 0
    pending: list[bytes] = field(default_factory=list)
    digests: list[tuple[bytes, bytes]] = field(default_factory=list)
    outbox: list[JournalistDeadDrop | UserDeadDrop] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def ingest(self, intake: Intake[K]) -> None:
        self.calls.append(f"ingest {intake.cursor}")
        self.pending += [self.spec.kept.encode(item.kept) for item in intake.real]
        self.digests += intake.digests
        self.received += intake.received
        self.cursor = max(self.cursor, intake.cursor)

    def release(
        self,
        released: Sequence[Pending[K]],
        state: MixState[Released[K]],
        dead_drop: JournalistDeadDrop | UserDeadDrop,
    ) -> None:
        self.calls.append(f"release {len(released)}")
        assert [self.spec.kept.encode(item.kept) for item in released] == self.pending[
            : len(released)
        ], "a release takes the oldest pending messages"
        del self.pending[: len(released)]
        self.received, self.last_release = state.received, state.last_release
        self.outbox.append(dead_drop)

    def lane(self, rng: int) -> Lane[K]:
        """A lane rebuilt from what was kept, as after a restart or a failed step."""
        pending: tuple[Released[K], ...] = tuple(
            Pending(self.spec.kept.decode(raw)) for raw in self.pending
        )
        state = MixState(self.received, self.last_release, pending)
        return Lane(PARAMS, state, ReplayFilter(self.digests), random.Random(rng))


def drive(
    spec: LaneSpec[Any, K],
    lane: Lane[K],
    store: RecordingStore[K],
    world: World,
    pages: Sequence[Sequence[tuple[int, Any]]],
    now: datetime,
) -> None:
    """What the mixer does with each page it pulls: open, take, keep, release when due."""
    for page in pages:
        if page:
            store.ingest(lane.take([(seq, spec.open(box, [world.node])) for seq, box in page]))
        if lane.due(now):
            batch = lane.release(now)
            dead_drop = spec.assemble(batch, world.node, world.org.covernode_identity, world.keys)
            store.release(real_of(batch), lane.state(), dead_drop)


class TestDrivenLikeTheMixer:
    def test_the_user_lane_keeps_what_the_store_needs_and_resumes_from_it(
        self, world: World
    ) -> None:
        assert (USER_LANE.direction, USER_LANE.kept) == (Direction.USER, U2C)
        wrapping = world.keys.covernode_wrapping_keys()
        first = real_u2c(world, "first")
        store: RecordingStore[U2CMessage] = RecordingStore(USER_LANE)
        the_lane: Lane[U2CMessage] = store.lane(3)
        drive(
            USER_LANE,
            the_lane,
            store,
            world,
            [[(1, encrypt_cover_u2c(wrapping)), (2, first)], [(3, first)]],
            T0,
        )
        # Two pages kept (the second only as a replay counted), nothing due yet.
        assert store.calls == ["ingest 2", "ingest 3"]
        assert (store.received, store.cursor, len(store.pending)) == (3, 3, 1)
        assert len(store.digests) == 1

        # A lane rebuilt from the store carries on exactly as the one in memory would.
        rebuilt = store.lane(3)
        assert rebuilt.state() == the_lane.state()
        second = real_u2c(world, "second")
        drive(USER_LANE, rebuilt, store, world, [[(4, first), (5, second)]], T0)
        assert store.calls[-2:] == ["ingest 5", "release 2"]  # threshold_max reached
        assert store.pending == []
        assert (store.received, store.last_release) == (0, T0)
        (dead_drop,) = store.outbox
        assert isinstance(dead_drop, JournalistDeadDrop)
        dead_drop.verify(world.keys)
        assert len(dead_drop.entries()) == PARAMS.output_size
        assert sorted(world.desk_reads(dead_drop)) == ["first", "second"]

    def test_the_journalist_lane_releases_on_the_timeout_into_a_user_dead_drop(
        self, world: World
    ) -> None:
        assert (JOURNALIST_LANE.direction, JOURNALIST_LANE.kept) == (
            Direction.JOURNALIST,
            ENCRYPTED_J2U,
        )
        source = EncryptionKeyPair.generate()
        store: RecordingStore[EncryptedJ2U] = RecordingStore(JOURNALIST_LANE)
        the_lane = store.lane(4)
        page = [
            (1, real_j2c(world, source, "a reply")),
            (2, encrypt_cover_j2c(world.keys.covernode_wrapping_keys())),
        ]
        drive(JOURNALIST_LANE, the_lane, store, world, [page], T0)
        assert store.calls == ["ingest 2"]
        drive(JOURNALIST_LANE, store.lane(4), store, world, [[]], T0 + MINUTE)
        assert store.calls == ["ingest 2", "release 1"]
        (dead_drop,) = store.outbox
        assert isinstance(dead_drop, UserDeadDrop)
        dead_drop.verify(world.keys)
        assert world.user_reads(source, dead_drop) == ["a reply"]
