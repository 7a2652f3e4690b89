"""The mixer's work, one step at a time: keys, pull, open, mix, sign, publish, acknowledge.

Every decision is made by the CoverNode's pure core (:mod:`quietline.protocol.covernode`
and :mod:`quietline.protocol.rotation`); this module does the I/O around it. Each
:meth:`Mixer.step` carries out the key rotation plan and publishes the CoverNode's keys,
fetches and verifies the published keys, pulls both edge queues page by page, opens each
submission with every valid messaging key (over worker processes: :mod:`.opening`) and
lets the lane take the page in (cover and replays count toward the thresholds and are
dropped; a submission that fails to open is dropped with a note), stores what the lane
kept, signs a
release when one is due, keeps it in the outbox and publishes the outbox. Every page is
stored (real messages, replay digests, cursor) in one transaction before the next pull
acknowledges it, so a crash at any point neither loses nor duplicates a real message; the
acknowledgements follow the cursor alone, so the edge cannot tell from them which
submission was real.

The lanes live in memory between steps, built from the store; a step that fails part way
throws them away so the next one rebuilds them from what the store kept.

A step drains each queue while its pages come back full, up to :data:`PAGES_PER_STEP`
pages a lane (a hostile edge's queue never ends); when it stops with more waiting its
report says so (``backlog``) and the next step starts at once, so the bound makes steps
short (keys, the outbox and the alarms are seen to every few seconds), not the mixer slow.
While one page is being opened (in another thread, which waits for the workers) the next
is pulled, so the edge and the page parser work while the workers do; memory stays
bounded by two pages of :data:`PAGE_LIMIT` submissions. A page is acknowledged only by a
pull after it is stored, as before.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from quietline.config import MixerConfig
from quietline.edge_client import EdgeRefused, EdgeUnavailable
from quietline.mixer.alarm import LANE_NAMES, LaneWatch
from quietline.mixer.forecast import ReleaseWatch
from quietline.mixer.keys import IDENTITY_RUNWAY_WARNING, CoverNodeKeys, KeyFolderError
from quietline.mixer.opening import (
    Failed,
    OpenedBytes,
    Openers,
    Outcome,
    open_submission,
    typed,
)
from quietline.mixer.state import MixerStore
from quietline.protocol.api import (
    QUEUE_BEHIND,
    QUEUE_PULL_MAX,
    Direction,
    KeySubmission,
    Queued,
    QueuePage,
    QueuePull,
)
from quietline.protocol.boxes import Codec
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.covernode import (
    JOURNALIST_LANE,
    USER_LANE,
    Lane,
    LaneSpec,
    Opened,
    Verdict,
    real_of,
)
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    JournalistDeadDrop,
    SignedDeadDrop,
    UserDeadDrop,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
)
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import BadSignature, MalformedInput, QuietlineError
from quietline.protocol.forms import SignedForm, sign_form
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keygen import CertifiedSigningKey
from quietline.protocol.mixing import MixingParameters, ReleaseForecast, ReplayFilter
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from quietline.runner import StepReport

PAGE_LIMIT = QUEUE_PULL_MAX
PAGES_PER_STEP = 20
# However many pages a (hostile) edge offers, looking for a dead drop ends after these.
MAX_PAGES_PER_SEARCH = 10_000
S = TypeVar("S")
K = TypeVar("K")


class MixerEdge(Protocol):
    """What the mixer needs of the edge (``EdgeClient`` is one)."""

    def public_keys(self) -> PublishedKeys: ...

    def dead_drops(self, body_type: type[B], after: int) -> list[DeadDrop[B]]: ...

    def publish_key(self, submission: KeySubmission) -> int: ...

    def publish_dead_drop(self, dead_drop: SignedDeadDrop) -> int: ...

    def pull_queue(self, codec: Codec[S], form: SignedForm) -> QueuePage[S]: ...


@dataclass
class MixerReport(StepReport):
    """What one step did, in counts only: never any content, key or client detail.

    Its status line (:meth:`summary`) gives only what an observer of the edge sees anyway:
    how many submissions were taken in and how many dead drops were made and published.
    The split into cover, replays and unreadable, and how many real messages wait, stay
    in the report for the caller and tests: a log of them would say when real messages
    arrived.
    """

    pulled: int = 0
    cover: int = 0
    replayed: int = 0
    unreadable: int = 0
    released: int = 0
    published: int = 0
    pending: dict[Direction, int] = field(default_factory=dict)
    # Each lane's input rate since its last release and the next release it leads to.
    forecasts: dict[Direction, ReleaseForecast] = field(default_factory=dict)
    backlog: bool = False  # a queue had more than this step took in: step again at once

    @property
    def did_something(self) -> bool:
        """Whether the step took anything in, made or published a dead drop, or has a note
        or an error to report (an idle step has nothing worth a log line)."""
        return bool(self.pulled or self.released or self.published or self.notes or self.error)

    def summary(self) -> list[str]:
        return [
            f"took in {self.pulled}",
            f"dead drops made {self.released}, published {self.published}",
        ]


def _check_anchored(keys: CoverNodeKeys, anchors: Sequence[SignedKey]) -> None:
    for provisioning in keys.provisioning:
        for anchor in anchors:
            try:
                provisioning.verify_certificate(anchor.signing_key())
            except BadSignature:
                continue
            return
    raise KeyFolderError(
        "the CoverNode provisioning key is not certified by the pinned organisation key"
    )


@dataclass
class _Lanes:
    """Both lanes, sharing one replay filter (both open with the same messaging keys)."""

    user: Lane[Any]
    journalist: Lane[Any]
    replays: ReplayFilter


class Mixer:
    """The CoverNode: pulls from the edge, never listens. One thread drives :meth:`step`."""

    def __init__(
        self,
        config: MixerConfig,
        edge: MixerEdge,
        anchors: Sequence[SignedKey],
        store: MixerStore,
        *,
        rng: random.Random | None = None,
        openers: Openers | None = None,
    ) -> None:
        """Load the key folder; raises KeyFolderError on a bad folder. ``openers`` open
        the submissions (the caller starts and stops them; by default this process
        opens them itself)."""
        self._config = config
        self._edge = edge
        self._anchors = list(anchors)
        self._store = store
        self._openers = openers if openers is not None else Openers(1)
        self._rng = rng if rng is not None else secrets.SystemRandom()
        self.keys = CoverNodeKeys.load(config.keys, config.covernode_id)
        _check_anchored(self.keys, self._anchors)
        self._published: set[bytes] = set()
        self._parameters: dict[Direction, MixingParameters] = {
            Direction.USER: config.u2j,
            Direction.JOURNALIST: config.j2u,
        }
        self._lanes: _Lanes | None = None
        self._watch = LaneWatch(config.alarm)
        self._release_watch = ReleaseWatch()
        # Digests of keys deleted before a crash let go of them now.
        store.forget_keys_except(k.published.key for k in self.keys.messaging.values())

    def _lanes_now(self, now: datetime) -> _Lanes:
        if self._lanes is None:
            self._store.start(now)
            replays = ReplayFilter(self._store.replay_digests())
            self._lanes = _Lanes(
                self._lane(USER_LANE, replays), self._lane(JOURNALIST_LANE, replays), replays
            )
        return self._lanes

    def _lane(self, spec: LaneSpec[Any, K], replays: ReplayFilter) -> Lane[K]:
        state = self._store.mix_state(spec.direction, spec.kept)
        return Lane(self._parameters[spec.direction], state, replays, self._rng)

    def step(self, now: datetime) -> MixerReport:
        """Do one round of work at ``now``. Never raises for an unreachable or refusing
        edge or a malformed answer: the report says what went wrong, and the next step
        carries on from the stored state."""
        report = MixerReport(now)
        finished = False
        try:
            lanes = self._lanes_now(now)
            self._keys_step(now, report)
            verified = verify_published_keys(self._edge.public_keys(), self._anchors, now).verified
            self._check_own_keys(verified, now)
            self._publish_outbox(now, verified, report)  # what a crash left behind
            self._pull(USER_LANE, lanes.user, now, verified, report)
            self._pull(JOURNALIST_LANE, lanes.journalist, now, verified, report)
            self._publish_outbox(now, verified, report)
            finished = True
        except EdgeUnavailable as error:
            report.error = f"edge unavailable, will retry: {error}"
        except EdgeRefused as error:
            report.error = str(error)
        except QuietlineError as error:  # a bad answer, or no usable key: try again later
            report.error = f"{type(error).__name__}: {error}"
        finally:
            if not finished:
                self._lanes = None  # rebuilt from the store, which has only whole changes
        report.pending = {d: self._store.pending_count(d) for d in Direction}
        for alarm in self._watch.close(now):  # counts only: see quietline.mixer.alarm
            self._store.add_to_counter(alarm.metric)
            report.notes.append(alarm.line())
        if self._lanes is not None:
            self._forecast(self._lanes, now, report)
        return report

    def _forecast(self, lanes: _Lanes, now: datetime, report: MixerReport) -> None:
        """Each lane's next release at the rate inputs came in since its last, and a
        warning (at most hourly) when the parameters cannot release at that rate."""
        for direction, lane in (
            (Direction.USER, lanes.user),
            (Direction.JOURNALIST, lanes.journalist),
        ):
            forecast = lane.forecast(now)
            report.forecasts[direction] = forecast
            line = self._release_watch.check(LANE_NAMES[direction], lane.parameters, forecast, now)
            if line is not None:
                report.notes.append(line)

    # --- keys -------------------------------------------------------------------------

    def _keys_step(self, now: datetime, report: MixerReport) -> None:
        runway = self.keys.identity_runway(now)
        if runway is None or runway - now < IDENTITY_RUNWAY_WARNING:
            # The admin may have copied more identity keys in since the folder was read.
            self._read_folder_again(report)
        outcome = self.keys.rotate(now)
        for key in outcome.made:
            report.notes.append(f"made a new {key.role.value} key {key.published.key[:4].hex()}…")
        if outcome.retired_messaging:
            live = [key.published.key for key in self.keys.messaging.values()]
            forgotten = self._store.forget_keys_except(live)
            if self._lanes is not None:
                self._lanes.replays.forget_all_but(live)
            report.notes.append(f"deleted expired keys; forgot {forgotten} replay digests")
        runway = self.keys.identity_runway(now)
        if runway is None or runway - now < IDENTITY_RUNWAY_WARNING:
            report.notes.append(
                "the identity keys the admin certified run out"
                + ("" if runway is None else f" at {format_rfc3339(runway)}")
                + ": ask for more (`quietline admin certify-mixer`)"
            )
        for body in self.keys.to_publish(now):
            if body.key.key in self._published:
                continue
            self._edge.publish_key(body)
            self._published.add(body.key.key)

    def _read_folder_again(self, report: MixerReport) -> None:
        """Take the key folder as it is on disk now; keep the keys held if it is unusable."""
        try:
            keys = CoverNodeKeys.load(self._config.keys, self._config.covernode_id)
            _check_anchored(keys, self._anchors)
        except KeyFolderError as error:
            report.notes.append(f"cannot read the key folder again: {error}")
            return
        self.keys = keys

    def _check_own_keys(self, verified: VerifiedKeys, now: datetime) -> None:
        """If the edge does not serve our newest messaging key (its store was replaced,
        say), publish every key again on the next step."""
        ours = verified.of_role(KeyRole.COVERNODE_MSG).get(self.keys.covernode_id, [])
        if self.keys.current_messaging(now).published.key not in {key.key for key in ours}:
            self._published.clear()

    # --- pulling and mixing -------------------------------------------------------------

    def _pull(
        self,
        spec: LaneSpec[S, K],
        lane: Lane[K],
        now: datetime,
        verified: VerifiedKeys,
        report: MixerReport,
    ) -> None:
        identity = self.keys.current_identity(now)
        opening = partial(
            open_submission,
            spec.direction,
            tuple(key.pair.secret for key in self.keys.live_messaging(now)),
        )
        after = self._store.cursor(spec.direction)
        try:
            answer = self._pull_page(spec, identity, now, after)
        except EdgeRefused as refused:
            if refused.status != QUEUE_BEHIND:
                raise
            # Acknowledging up to the cursor would delete, unread, what came in since.
            self._store.restart_cursor(spec.direction)
            report.notes.append(
                f"the edge's {spec.direction.value} queue is behind this mixer's cursor"
                " (was its database or stream replaced?): reading it again from its start"
            )
            after = 0
            answer = self._pull_page(spec, identity, now, after)
        with ThreadPoolExecutor(1, thread_name_prefix="quietline-opening") as background:
            for page in range(PAGES_PER_STEP):
                fresh = [item for item in answer.messages if item.seq > after]
                opening_page = background.submit(
                    self._openers.run,
                    opening,
                    [spec.submissions.encode(item.message) for item in fresh],
                )
                last = max(answer.seqs, default=after)
                full = len(answer.seqs) >= PAGE_LIMIT and last > after
                # While this page is opened, fetch the next one: the edge prepares it and
                # the workers (or this process's other thread) open meanwhile.
                following = (
                    self._pull_page(spec, identity, now, last)
                    if full and page + 1 < PAGES_PER_STEP
                    else None
                )
                taken = self._take(
                    spec,
                    lane,
                    after=after,
                    answer=answer,
                    fresh=fresh,
                    outcome=opening_page.result(),
                    report=report,
                )
                if lane.due(now):
                    batch = lane.release(now)
                    sender = self.keys.current_messaging(now).pair
                    dead_drop = spec.assemble(batch, sender, identity, verified)
                    self._store.release(spec.direction, real_of(batch), lane.state(), dead_drop)
                    report.released += 1
                if not full or not taken:
                    return  # the queue is drained (or the edge repeats itself)
                if following is None:
                    break
                after, answer = last, following
        report.backlog = True

    def _pull_page(
        self, spec: LaneSpec[S, K], identity: CertifiedSigningKey, now: datetime, after: int
    ) -> QueuePage[S]:
        """The page after ``after``, acknowledging what the store holds: acknowledging
        anything less would hold the queue at a real message and show the edge which
        one it was."""
        cursor = self._store.cursor(spec.direction)
        pull = QueuePull(spec.direction, after, PAGE_LIMIT, cursor)
        return self._edge.pull_queue(
            spec.submissions, sign_form(pull.to_json(), identity.pair, now)
        )

    def _take(
        self,
        spec: LaneSpec[S, K],
        lane: Lane[K],
        *,
        after: int,
        answer: QueuePage[S],
        fresh: list[Queued[S]],
        outcome: Outcome[OpenedBytes | None],
        report: MixerReport,
    ) -> bool:
        """Let the lane take in a page of opened submissions and store what it kept;
        False if the page held nothing new."""
        # What was taken in already is not taken twice, whatever the edge sends; an
        # entry that is not a submission at all counts as unreadable and is passed.
        opened: dict[int, Opened[K] | None] = {
            seq: None for seq in answer.unreadable if seq > after
        }
        failures: Counter[str] = Counter()
        for item, result in zip(fresh, outcome.results, strict=True):
            if isinstance(result, Failed):  # hostile: counted unreadable, and noted
                failures[result.error] += 1
                opened[item.seq] = None
            else:
                opened[item.seq] = typed(spec, result)
        report.notes += outcome.notes
        report.notes += [
            f"dropped {count} submission(s) that failed to open: {error}"
            for error, count in failures.items()
        ]
        if not opened:
            return False
        intake = lane.take(sorted(opened.items(), key=lambda pair: pair[0]))
        self._store.ingest(spec.direction, intake, spec.kept)
        report.pulled += len(opened)
        report.cover += intake.count(Verdict.COVER)
        report.replayed += intake.count(Verdict.REPLAYED)
        report.unreadable += intake.count(Verdict.UNREADABLE)
        self._watch.count(spec.direction, intake.received, intake.count(Verdict.REAL))
        return True

    # --- publishing -------------------------------------------------------------------

    def _sign_again(
        self, dead_drop: SignedDeadDrop, now: datetime, max_epoch: int
    ) -> SignedDeadDrop:
        """The same entries signed afresh with the current identity key (journalist dead
        drops with the newest epoch of the verified key set)."""
        identity = self.keys.current_identity(now)
        created_at = now.replace(microsecond=0)
        if isinstance(dead_drop, UserDeadDrop):
            return sign_user_dead_drop(
                dead_drop.entries(),
                created_at,
                identity=identity.pair,
                identity_not_valid_after=identity.not_valid_after,
            )
        return sign_journalist_dead_drop(
            dead_drop.entries(),
            created_at,
            max_epoch,
            identity=identity.pair,
            identity_not_valid_after=identity.not_valid_after,
        )

    def _publish_outbox(self, now: datetime, verified: VerifiedKeys, report: MixerReport) -> None:
        """Store every outbox entry at the edge (re-posting returns the same id), and only
        then take it out of the outbox."""
        for entry in self._store.outbox():
            try:
                self._edge.publish_dead_drop(entry.dead_drop)
            except EdgeRefused as error:
                # Signed by an identity key the edge no longer accepts (the mixer was down
                # past its expiry, say): unless the edge holds it already, sign the same
                # entries afresh, so that the queue behind it does not stall.
                if not self._edge_holds(entry.dead_drop):
                    fresh = self._sign_again(entry.dead_drop, now, verified.max_epoch)
                    self._store.replace_dead_drop(entry.id, fresh)
                    self._edge.publish_dead_drop(fresh)
                    report.notes.append(
                        f"signed again a dead drop the edge refused: {error.reason}"
                    )
            self._store.mark_published(entry.id)
            report.published += 1

    def _edge_holds(self, dead_drop: SignedDeadDrop) -> bool:
        if isinstance(dead_drop, UserDeadDrop):
            return self._edge_holds_signature(UserDeadDrop, dead_drop.signature)
        return self._edge_holds_signature(JournalistDeadDrop, dead_drop.signature)

    def _edge_holds_signature(self, body_type: type[B], signature: bytes) -> bool:
        after = 0
        for _ in range(MAX_PAGES_PER_SEARCH):
            page = [
                stored for stored in self._edge.dead_drops(body_type, after) if stored.id > after
            ]
            if not page:
                return False
            if any(stored.body.signature == signature for stored in page):
                return True
            after = max(stored.id for stored in page)
        raise MalformedInput("the edge's dead drops do not end: cannot tell what it holds")
