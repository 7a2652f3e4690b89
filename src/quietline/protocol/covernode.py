"""What the CoverNode decides, sans I/O: open what the edge queued, drop cover and
replays, mix, and turn each release into a signed dead drop.

Everything that decides what happens to an input lives here and takes its keys and
``now`` as arguments; the mixer service (``quietline.mixer``) only pulls, stores and
publishes around it, and the in-memory tour (``quietline.tour``) runs the same code.

* :func:`open_u2c` and :func:`open_j2c` remove the outer layer of one submission with
  whichever CoverNode messaging key fits (pure: they parallelise over processes);
* a :class:`Lane` (one per queue) holds the persisted threshold mix and the replay
  filter and takes opened inputs in, page by page, saying what a store must keep;
* :func:`journalist_dead_drop` and :func:`user_dead_drop` pad a release with fillers
  built like real entries and sign it.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

from quietline.protocol.api import Direction
from quietline.protocol.boxes import Codec, MultiAnonymousBox
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    SignedDeadDrop,
    UserDeadDrop,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
)
from quietline.protocol.errors import KeyUnavailable, ProtocolError
from quietline.protocol.keygen import CertifiedSigningKey
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.messages import (
    ENCRYPTED_J2C,
    ENCRYPTED_J2U,
    ENCRYPTED_U2C,
    U2C,
    EncryptedC2J,
    EncryptedJ2C,
    EncryptedJ2U,
    EncryptedU2C,
    U2CMessage,
    cover_j2u,
    filler_c2j,
    forward_to_journalist,
)
from quietline.protocol.mixing import (
    MixBatch,
    MixingParameters,
    MixState,
    ReleaseForecast,
    ReplayFilter,
    ThresholdMix,
)
from quietline.protocol.verification import VerifiedKeys

K = TypeVar("K")
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Opened(Generic[K]):
    """A submission with its outer layer removed.

    ``key`` is the CoverNode messaging key that opened it (replays are recognised per
    key), ``plaintext`` what it decrypted to, and ``kept`` what a real input leaves in
    the mix (None for cover).
    """

    key: bytes
    plaintext: bytes = field(repr=False)
    kept: K | None = field(repr=False)


def _open_with(
    box: MultiAnonymousBox[M], keys: Sequence[EncryptionKeyPair]
) -> tuple[bytes, M] | None:
    for key in keys:
        try:
            return key.public.raw, box.open(key)
        except ProtocolError:
            continue
    return None


def open_u2c(box: EncryptedU2C, keys: Sequence[EncryptionKeyPair]) -> Opened[U2CMessage] | None:
    """Open a U2C with whichever of ``keys`` fits; None when none does (or it is garbage).

    What a real U2C leaves in the mix is its tag and sealed U2J, the 597-byte plaintext.
    """
    opened = _open_with(box, keys)
    if opened is None:
        return None
    key, message = opened
    return Opened(key, message.to_bytes(), None if message.tag.is_cover else message)


def open_j2c(box: EncryptedJ2C, keys: Sequence[EncryptionKeyPair]) -> Opened[EncryptedJ2U] | None:
    """Open a J2C with whichever of ``keys`` fits; None when none does (or it is garbage).

    What a real J2C leaves in the mix is the boxed J2U, already a user dead-drop entry.
    """
    opened = _open_with(box, keys)
    if opened is None:
        return None
    key, message = opened
    return Opened(key, message.to_bytes(), message.payload if message.is_real else None)


@dataclass(frozen=True, slots=True)
class Pending(Generic[K]):
    """A real input waiting in a mix. Where it stood in the edge's queue is not kept: a
    store holding it should not say which submission it was."""

    kept: K = field(repr=False)


class Slot(enum.Enum):
    """A released position that no real input fills."""

    FILLER = "filler"


FILLER = Slot.FILLER
Released = Pending[K] | Literal[Slot.FILLER]


class Verdict(enum.Enum):
    """What became of one submission."""

    UNREADABLE = "unreadable"  # no key opened it: garbage, or for a key long gone
    COVER = "cover"
    REPLAYED = "replayed"
    REAL = "real"


@dataclass(frozen=True, slots=True)
class Intake(Generic[K]):
    """What one page of submissions changed, for a store to keep in one transaction.

    ``received`` counts the inputs toward the release thresholds (cover, replays and
    real alike; not the unreadable); ``digests`` are the (messaging key, replay digest)
    pairs of the new real inputs.
    """

    cursor: int
    received: int
    real: tuple[Pending[K], ...]
    digests: tuple[tuple[bytes, bytes], ...]
    verdicts: tuple[Verdict, ...]

    def count(self, verdict: Verdict) -> int:
        return self.verdicts.count(verdict)


class Lane(Generic[K]):
    """One direction through the CoverNode: the threshold mix and the replay filter.

    Built from what a store kept (:meth:`ThresholdMix` state and replay digests), it
    changes only through :meth:`take` and :meth:`release`, each of which says what the
    store must now keep. If the store fails to keep it, throw the lane away and build
    it again from the store.
    """

    def __init__(
        self,
        parameters: MixingParameters,
        state: MixState[Released[K]],
        replays: ReplayFilter,
        rng: random.Random | None = None,
    ) -> None:
        self._mix: ThresholdMix[Released[K]] = ThresholdMix(parameters, state, rng)
        self._replays = replays

    @property
    def parameters(self) -> MixingParameters:
        return self._mix.parameters

    @property
    def pending(self) -> int:
        return self._mix.pending

    def state(self) -> MixState[Released[K]]:
        return self._mix.state()

    def forecast(self, now: datetime) -> ReleaseForecast:
        return self._mix.forecast(now)

    def take(self, page: Sequence[tuple[int, Opened[K] | None]]) -> Intake[K]:
        """Count a page of opened submissions (None: could not be opened) into the mix,
        keeping the real ones that are not replays."""
        received = 0
        real: list[Pending[K]] = []
        digests: list[tuple[bytes, bytes]] = []
        verdicts: list[Verdict] = []
        for _, opened in page:
            if opened is None:
                verdicts.append(Verdict.UNREADABLE)
                continue
            received += 1
            if opened.kept is None:
                verdicts.append(Verdict.COVER)
                self._mix.receive(None)
                continue
            digest = self._replays.admit(opened.key, opened.plaintext)
            if digest is None:
                verdicts.append(Verdict.REPLAYED)
                self._mix.receive(None)
                continue
            pending = Pending(opened.kept)
            self._mix.receive(pending)
            real.append(pending)
            digests.append((opened.key, digest))
            verdicts.append(Verdict.REAL)
        cursor = max((seq for seq, _ in page), default=0)
        return Intake(cursor, received, tuple(real), tuple(digests), tuple(verdicts))

    def due(self, now: datetime) -> bool:
        return self._mix.due(now)

    def release(self, now: datetime) -> MixBatch[Released[K]]:
        """Take the next batch (shuffled, ``output_size`` slots, FILLER where no real input
        is). Raises MisuseError when none is due."""
        return self._mix.release(now, lambda: FILLER)


def real_of(batch: MixBatch[Released[K]]) -> list[Pending[K]]:
    """The real inputs a batch released, oldest first."""
    return [item for item in batch.real if isinstance(item, Pending)]


# --- turning a release into a dead drop -----------------------------------------------------


def c2j_entry(message: U2CMessage, sender: EncryptionKeyPair, keys: VerifiedKeys) -> EncryptedC2J:
    """The journalist dead-drop entry for one real U2C: its sealed U2J re-encrypted from
    ``sender`` to the newest key of the recipient its tag names, or a filler when no
    published recipient has that tag (or a key a box can be sealed to)."""
    recipient = next((p for p in keys.profiles if p.tag == message.tag), None)
    if recipient is None:
        return filler_c2j()
    try:
        key = keys.journalist_messaging_key(recipient.id)
        return forward_to_journalist(sender, key, message.payload)
    except (KeyUnavailable, ProtocolError):  # no key, or one nothing can be sealed to
        return filler_c2j()


def journalist_dead_drop(
    batch: MixBatch[Released[U2CMessage]],
    sender: EncryptionKeyPair,
    identity: CertifiedSigningKey,
    keys: VerifiedKeys,
) -> JournalistDeadDrop:
    """A release of the user lane as a signed journalist dead drop, at the batch's time
    (whole seconds) with the epoch of ``keys``.

    Raises KeyUnavailable when ``identity`` has expired.
    """
    entries = [
        filler_c2j() if item is FILLER else c2j_entry(item.kept, sender, keys)
        for item in batch.entries
    ]
    return sign_journalist_dead_drop(
        entries,
        batch.released_at.replace(microsecond=0),
        keys.max_epoch,
        identity=identity.pair,
        identity_not_valid_after=identity.not_valid_after,
    )


def user_dead_drop(
    batch: MixBatch[Released[EncryptedJ2U]], identity: CertifiedSigningKey
) -> UserDeadDrop:
    """A release of the journalist lane as a signed user dead drop, at the batch's time
    (whole seconds). Raises KeyUnavailable when ``identity`` has expired."""
    entries = [cover_j2u() if item is FILLER else item.kept for item in batch.entries]
    return sign_user_dead_drop(
        entries,
        batch.released_at.replace(microsecond=0),
        identity=identity.pair,
        identity_not_valid_after=identity.not_valid_after,
    )


# --- the two lanes ---------------------------------------------------------------------------

S = TypeVar("S")
Assemble = Callable[
    [MixBatch[Released[K]], EncryptionKeyPair, CertifiedSigningKey, VerifiedKeys], SignedDeadDrop
]


@dataclass(frozen=True, slots=True)
class LaneSpec(Generic[S, K]):
    """What differs between the two lanes: the queue, what it holds (``submissions``),
    how one is opened, what a real one leaves in the mix (``kept``, as a store writes
    it) and how a release becomes a signed dead drop (from the current messaging key,
    identity key and verified keys)."""

    direction: Direction
    submissions: Codec[S]
    kept: Codec[K]
    open: Callable[[S, Sequence[EncryptionKeyPair]], Opened[K] | None]
    assemble: Assemble[K]


def _assemble_journalist(
    batch: MixBatch[Released[U2CMessage]],
    sender: EncryptionKeyPair,
    identity: CertifiedSigningKey,
    keys: VerifiedKeys,
) -> SignedDeadDrop:
    return journalist_dead_drop(batch, sender, identity, keys)


def _assemble_user(
    batch: MixBatch[Released[EncryptedJ2U]],
    _sender: EncryptionKeyPair,
    identity: CertifiedSigningKey,
    _keys: VerifiedKeys,
) -> SignedDeadDrop:
    return user_dead_drop(batch, identity)


USER_LANE: LaneSpec[EncryptedU2C, U2CMessage] = LaneSpec(
    Direction.USER, ENCRYPTED_U2C, U2C, open_u2c, _assemble_journalist
)
JOURNALIST_LANE: LaneSpec[EncryptedJ2C, EncryptedJ2U] = LaneSpec(
    Direction.JOURNALIST, ENCRYPTED_J2C, ENCRYPTED_J2U, open_j2c, _assemble_user
)
