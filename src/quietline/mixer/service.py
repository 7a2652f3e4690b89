"""The mixer's work, one step at a time: keys, pull, open, mix, sign, publish, acknowledge.

Each :meth:`Mixer.step` rotates and publishes the CoverNode's keys when due, fetches and
verifies the published keys, pulls both edge queues, opens every input with every valid
messaging key, drops undecryptable inputs, cover and replays (cover and replays still
count toward the thresholds), keeps real messages in the persisted threshold mix,
releases full-size shuffled dead drops when due, stores them signed in the outbox and
publishes the outbox. The edge queue is acknowledged only below the oldest message not
yet inside a dead drop the edge has stored, so a crash at any point neither loses nor
duplicates a real message.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from quietline.clock import Clock
from quietline.config import MixerConfig
from quietline.edge_client import EdgeClient, EdgeRefused, EdgeUnavailable
from quietline.mixer.keys import CoverNodeKeys, KeyFolderError
from quietline.mixer.state import Direction, Ingest, MixerStore, PendingItem
from quietline.protocol.boxes import MultiAnonymousBox
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop, sign_dead_drop
from quietline.protocol.errors import BadSignature, KeyUnavailable, ProtocolError
from quietline.protocol.forms import sign_form
from quietline.protocol.keygen import CertifiedEncryptionKey
from quietline.protocol.messages import (
    U2CMessage,
    cover_j2u,
    filler_c2j,
    forward_to_journalist,
    parse_j2c,
    parse_u2c,
)
from quietline.protocol.mixing import MixingParameters, ThresholdMix, replay_digest
from quietline.protocol.verification import VerifiedKeys, verify_published_keys

PAGE_LIMIT = 500
MAX_PAGES_PER_STEP = 20
# Stands for a filler slot in a released batch; pending rows have ids from 1.
_FILLER = PendingItem(0, 0, b"")
M = TypeVar("M")


@dataclass
class StepReport:
    """What one step did, in counts only: never any content, key or client detail."""

    pulled: int = 0
    cover: int = 0
    replayed: int = 0
    unreadable: int = 0
    released: int = 0
    published: int = 0
    pending: dict[Direction, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        """One status line."""
        pending = " ".join(f"{d.value} {n}" for d, n in self.pending.items())
        text = (
            f"pulled {self.pulled} (cover {self.cover}, replayed {self.replayed},"
            f" unreadable {self.unreadable}) · pending {pending or '-'}"
            f" · dead drops made {self.released}, published {self.published}"
        )
        return text if self.error is None else f"{text} · {self.error}"


def _anchor_of(keys: CoverNodeKeys, anchors: Sequence[SignedKey]) -> bytes:
    for anchor in anchors:
        try:
            keys.provisioning.published.verify_certificate(anchor.signing_key())
        except BadSignature:
            continue
        return anchor.key
    raise KeyFolderError(
        "the CoverNode provisioning key is not certified by the pinned organisation key"
    )


class Mixer:
    """The CoverNode: pulls from the edge, never listens. One thread drives :meth:`step`."""

    def __init__(
        self,
        config: MixerConfig,
        edge: EdgeClient,
        anchors: Sequence[SignedKey],
        clock: Clock,
        store: MixerStore,
        *,
        rng: random.Random | None = None,
    ) -> None:
        """Load the key folder and open the state; raises KeyFolderError on a bad folder."""
        self._config = config
        self._edge = edge
        self._anchors = list(anchors)
        self._clock = clock
        self._store = store
        self._rng = rng if rng is not None else secrets.SystemRandom()
        self.keys = CoverNodeKeys.load(config.keys, config.covernode_id)
        self._anchor_key = _anchor_of(self.keys, self._anchors)
        self._published: set[bytes] = set()
        self._parameters: dict[Direction, MixingParameters] = {
            Direction.USER: config.u2j,
            Direction.JOURNALIST: config.j2u,
        }
        store.start(clock.now())
        # Digests of keys deleted before a crash let go of them now.
        store.forget_keys_except(k.published.key for k in self.keys.messaging.values())

    def run_step(self) -> StepReport:
        """:meth:`step` at the clock's current time."""
        return self.step(self._clock.now())

    def step(self, now: datetime) -> StepReport:
        """Do one round of work at ``now``. Never raises for an unreachable or refusing
        edge or a malformed answer: the report says what went wrong, and the next step
        carries on from the stored state."""
        report = StepReport()
        try:
            self._keys_step(now, report)
            verified = verify_published_keys(self._edge.public_keys(), self._anchors, now).verified
            self._check_own_keys(verified, now)
            self._publish_outbox(now, verified, report)  # what a crash left behind
            for direction in Direction:
                self._pull(direction, now, verified, report)
            self._publish_outbox(now, verified, report)
        except EdgeUnavailable as error:
            report.error = f"edge unavailable, will retry: {error}"
        except EdgeRefused as error:
            report.error = str(error)
        except (ProtocolError, KeyUnavailable) as error:
            report.error = f"{type(error).__name__}: {error}"
        report.pending = {d: self._store.pending_count(d) for d in Direction}
        return report

    # --- keys -------------------------------------------------------------------------

    def _keys_step(self, now: datetime, report: StepReport) -> None:
        for key in self.keys.rotate(now):
            report.notes.append(f"made a new {key.role.value} key {key.published.key[:4].hex()}…")
        if self.keys.retire_expired(now):
            live = [key.published.key for key in self.keys.messaging.values()]
            forgotten = self._store.forget_keys_except(live)
            report.notes.append(f"deleted expired keys; forgot {forgotten} replay digests")
        for body in self.keys.to_publish(now, self._anchor_key):
            if body.key.key in self._published:
                continue
            self._edge.publish_key(body.role, body.owner, body.parent_key, body.key)
            self._published.add(body.key.key)

    def _check_own_keys(self, verified: VerifiedKeys, now: datetime) -> None:
        """If the edge does not serve our newest messaging key (its store was replaced,
        say), publish every key again on the next step."""
        ours = verified.of_role(KeyRole.COVERNODE_MSG).get(self._config.covernode_id, [])
        if self.keys.current_messaging(now).published.key not in {key.key for key in ours}:
            self._published.clear()

    # --- pulling ----------------------------------------------------------------------

    def _pull(
        self, direction: Direction, now: datetime, verified: VerifiedKeys, report: StepReport
    ) -> None:
        identity = self.keys.current_identity(now)
        messaging = self.keys.live_messaging(now)
        for _ in range(MAX_PAGES_PER_STEP):
            payload = {
                "direction": direction.value,
                "after": self._store.cursor(direction),
                "limit": PAGE_LIMIT,
                "ack_through": self._store.ack_point(direction),
            }
            items = self._edge.pull_queue(sign_form(payload, identity.pair, now))
            if items:
                self._store.ingest(direction, self._open_page(direction, items, messaging, report))
            self._maybe_release(direction, now, verified, report)
            if len(items) < PAGE_LIMIT:
                return

    def _open_page(
        self,
        direction: Direction,
        items: Sequence[tuple[int, bytes]],
        messaging: Sequence[CertifiedEncryptionKey],
        report: StepReport,
    ) -> Ingest:
        received = 0
        real: list[tuple[int, bytes]] = []
        digests: list[tuple[bytes, bytes]] = []
        in_page: set[bytes] = set()
        for seq, data in items:
            report.pulled += 1
            opened = _open(direction, data, messaging)
            if opened is None:
                report.unreadable += 1
                continue
            key, plaintext, payload = opened
            received += 1
            if payload is None:
                report.cover += 1
                continue
            digest = replay_digest(plaintext)
            if digest in in_page or self._store.seen(digest):
                report.replayed += 1
                continue
            in_page.add(digest)
            real.append((seq, payload))
            digests.append((key, digest))
        return Ingest(max(seq for seq, _ in items), received, real, digests)

    # --- mixing -----------------------------------------------------------------------

    def _maybe_release(
        self, direction: Direction, now: datetime, verified: VerifiedKeys, report: StepReport
    ) -> None:
        mix = ThresholdMix(self._parameters[direction], self._store.mix_state(direction), self._rng)
        if not mix.due(now):
            return
        batch = mix.release(now, lambda: _FILLER)
        if direction is Direction.USER:
            sender = self.keys.current_messaging(now)
            entries = [self._c2j_entry(item, sender, verified) for item in batch.entries]
        else:
            entries = [
                cover_j2u().data if item is _FILLER else item.payload for item in batch.entries
            ]
        dead_drop = self._sign(direction, entries, now, verified.max_epoch)
        self._store.release(direction, batch.real, mix.state(), dead_drop)
        report.released += 1

    def _sign(
        self, direction: Direction, entries: Sequence[bytes], now: datetime, max_epoch: int
    ) -> UnpublishedDeadDrop:
        """Sign ``entries`` with the current identity key; journalist dead drops carry
        the newest epoch of the verified key set."""
        identity = self.keys.current_identity(now)
        kind = direction.dead_drop_kind
        return sign_dead_drop(
            kind,
            entries,
            now.replace(microsecond=0),
            max_epoch if kind is DeadDropKind.JOURNALIST else None,
            identity=identity.pair,
            identity_not_valid_after=identity.not_valid_after,
        )

    def _c2j_entry(
        self, item: PendingItem, sender: CertifiedEncryptionKey, verified: VerifiedKeys
    ) -> bytes:
        """The dead-drop entry for one slot: the message re-encrypted to its recipient's
        newest key, or a filler (for a filler slot or a recipient nobody publishes)."""
        if item is _FILLER:
            return filler_c2j().data
        message = U2CMessage.from_bytes(item.payload)
        recipient = next((p for p in verified.profiles if p.tag == message.tag), None)
        if recipient is None:
            return filler_c2j().data
        try:
            key = verified.journalist_messaging_key(recipient.id)
        except KeyUnavailable:
            return filler_c2j().data
        return forward_to_journalist(sender.pair, key, message.payload).data

    # --- publishing -------------------------------------------------------------------

    def _publish_outbox(self, now: datetime, verified: VerifiedKeys, report: StepReport) -> None:
        """Store every outbox entry at the edge (re-posting returns the same id), and only
        then take it out of the outbox, which lets the queue be acknowledged past it."""
        for entry in self._store.outbox():
            try:
                self._edge.publish_dead_drop(entry.dead_drop)
            except EdgeRefused as error:
                # Signed by an identity key the edge no longer accepts (the mixer was down
                # past its expiry, say): unless the edge holds it already, sign the same
                # entries afresh, so that the queue behind it does not stall.
                if not self._edge_holds(entry.dead_drop):
                    fresh = self._sign(
                        entry.direction, entry.dead_drop.entries(), now, verified.max_epoch
                    )
                    self._store.replace_dead_drop(entry.id, fresh)
                    self._edge.publish_dead_drop(fresh)
                    report.notes.append(
                        f"signed again a dead drop the edge refused: {error.reason}"
                    )
            self._store.mark_published(entry.id)
            report.published += 1

    def _edge_holds(self, dead_drop: UnpublishedDeadDrop) -> bool:
        after = 0
        while page := self._edge.dead_drops(dead_drop.kind, after):
            if any(stored.body.signature == dead_drop.signature for stored in page):
                return True
            after = page[-1].id
        return False


def _open_with(
    box: MultiAnonymousBox[M], keys: Sequence[CertifiedEncryptionKey]
) -> tuple[bytes, M] | None:
    for key in keys:
        try:
            return key.published.key, box.open(key.pair)
        except ProtocolError:
            continue
    return None


def _open(
    direction: Direction, data: bytes, keys: Sequence[CertifiedEncryptionKey]
) -> tuple[bytes, bytes, bytes | None] | None:
    """Open one input with whichever key fits: (messaging key, plaintext, kept payload or
    None for cover), or None when no key opens it or it is malformed."""
    try:
        if direction is Direction.USER:
            user = _open_with(parse_u2c(data), keys)
            if user is None:
                return None
            key, u2c = user
            plaintext = u2c.to_bytes()
            return key, plaintext, None if u2c.tag.is_cover else plaintext
        journalist = _open_with(parse_j2c(data), keys)
    except ProtocolError:
        return None
    if journalist is None:
        return None
    key, j2c = journalist
    return key, j2c.to_bytes(), j2c.payload.data if j2c.is_real else None
