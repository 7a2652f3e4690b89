"""The CoverNode's threshold-or-timeout mix, and replay detection.

A release happens when at least ``threshold_max`` inputs (real or cover) arrived since
the last one, or at least ``threshold_min`` did and ``timeout`` has passed. Each release
takes up to ``output_size`` real messages from a FIFO, pads to exactly ``output_size``
with fillers built like real entries, and shuffles uniformly (CoverDrop dropped its
shuffle; Quietline keeps one, so position in a dead drop says nothing about arrival).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from quietline.protocol.errors import MisuseError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MixingParameters:
    """When a mix releases and how big each release is."""

    threshold_min: int
    threshold_max: int
    timeout: timedelta
    output_size: int

    def __post_init__(self) -> None:
        if not 0 <= self.threshold_min <= self.threshold_max:
            raise MisuseError("mixing thresholds need 0 <= threshold_min <= threshold_max")
        if self.output_size < 1 or self.timeout <= timedelta(0):
            raise MisuseError("mixing needs output_size >= 1 and a positive timeout")


# CoverDrop's production and test parameters (its docs/covernode_mixing_strategy.md).
PRODUCTION_U2J = MixingParameters(100_000, 500_000, timedelta(hours=1), 500)
PRODUCTION_J2U = MixingParameters(50, 100, timedelta(hours=1), 20)
DEMO_U2J = MixingParameters(2, 10, timedelta(minutes=15), 10)
DEMO_J2U = MixingParameters(10, 40, timedelta(minutes=15), 5)


@dataclass(frozen=True, slots=True)
class MixState(Generic[T]):
    """Everything a mix must persist to resume exactly where it stopped."""

    received: int
    last_release: datetime
    pending: tuple[T, ...]


@dataclass(frozen=True, slots=True)
class ReleaseForecast:
    """A mix's input rate over ``observed`` (since its last release) and the release it
    leads to (None: never, at that rate)."""

    observed: timedelta
    received: int
    inputs_per_second: float
    last_release: datetime
    next_release: datetime | None


@dataclass(frozen=True, slots=True)
class MixBatch(Generic[T]):
    """One release: ``entries`` (shuffled, exactly ``output_size``) and which were real."""

    released_at: datetime
    entries: tuple[T, ...]
    real: tuple[T, ...]


class ThresholdMix(Generic[T]):
    """A deterministic threshold-or-timeout mix over items of type ``T``.

    Time comes in as arguments; randomness from ``rng`` (the OS by default, a seeded
    ``random.Random`` in tests).
    """

    def __init__(
        self,
        parameters: MixingParameters,
        state: MixState[T],
        rng: random.Random | None = None,
    ) -> None:
        self.parameters = parameters
        self._received = state.received
        self._last_release = state.last_release
        self._pending: deque[T] = deque(state.pending)
        self._rng = rng if rng is not None else secrets.SystemRandom()

    @classmethod
    def start(
        cls, parameters: MixingParameters, now: datetime, rng: random.Random | None = None
    ) -> ThresholdMix[T]:
        return cls(parameters, MixState(0, now, ()), rng)

    def state(self) -> MixState[T]:
        return MixState(self._received, self._last_release, tuple(self._pending))

    @property
    def pending(self) -> int:
        """Real messages waiting for a release."""
        return len(self._pending)

    @property
    def received(self) -> int:
        """Inputs (real and cover) counted since the last release."""
        return self._received

    def forecast(self, now: datetime) -> ReleaseForecast:
        """The input rate seen since the last release, and when the next one comes if
        inputs keep arriving at it: from the counts alone, never which input was real."""
        seconds = max(0.0, (now - self._last_release).total_seconds())
        rate = self._received / seconds if seconds > 0 else 0.0
        return ReleaseForecast(
            observed=timedelta(seconds=seconds),
            received=self._received,
            inputs_per_second=rate,
            last_release=self._last_release,
            next_release=next_release(
                self.parameters, self._received, self._last_release, rate, now
            ),
        )

    def receive(self, real: T | None) -> None:
        """Count one input; keep it if real (``None`` is a discarded cover message)."""
        self._received += 1
        if real is not None:
            self._pending.append(real)

    def receive_cover(self, count: int) -> None:
        """Count ``count`` cover inputs at once (they are discarded)."""
        if count < 0:
            raise MisuseError("a count of inputs cannot be negative")
        self._received += count

    def receive_all(self, inputs: Iterable[T | None]) -> None:
        for item in inputs:
            self.receive(item)

    def due(self, now: datetime) -> bool:
        """Whether a release is due at ``now``."""
        if self._received >= self.parameters.threshold_max:
            return True
        timed_out = now - self._last_release >= self.parameters.timeout
        return timed_out and self._received >= self.parameters.threshold_min

    def release(self, now: datetime, filler: Callable[[], T]) -> MixBatch[T]:
        """Take up to ``output_size`` real messages, pad with ``filler()``, shuffle.

        Raises MisuseError when no release is due.
        """
        if not self.due(now):
            raise MisuseError("no release is due")
        count = min(self.parameters.output_size, len(self._pending))
        real = tuple(self._pending.popleft() for _ in range(count))
        entries = [*real, *(filler() for _ in range(self.parameters.output_size - count))]
        self._rng.shuffle(entries)
        self._received = 0
        self._last_release = now
        return MixBatch(now, tuple(entries), real)


# Beyond this a forecast says "never": nobody waits for it, and dates would overflow.
FORECAST_HORIZON = timedelta(days=3650)


def next_release(
    parameters: MixingParameters,
    received: int,
    last_release: datetime,
    inputs_per_second: float,
    now: datetime,
) -> datetime | None:
    """When a mix that counted ``received`` inputs since ``last_release`` releases next,
    if inputs keep arriving at ``inputs_per_second`` from ``now``: when it reaches
    ``threshold_max``, or the timeout with ``threshold_min`` reached, whichever comes
    first. None when that is never (no inputs arrive and the thresholds are not met) or
    beyond :data:`FORECAST_HORIZON`."""

    def reached(count: int) -> datetime | None:
        if received >= count:
            return now
        if inputs_per_second <= 0:
            return None
        wait = (count - received) / inputs_per_second
        if wait > FORECAST_HORIZON.total_seconds():
            return None
        return now + timedelta(seconds=wait)

    at_max = reached(parameters.threshold_max)
    at_min = reached(parameters.threshold_min)
    by_timeout = None if at_min is None else max(at_min, last_release + parameters.timeout)
    due = [moment for moment in (at_max, by_timeout) if moment is not None]
    return min(due) if due else None


def replay_digest(plaintext: bytes) -> bytes:
    """What the mixer remembers of a decrypted input to recognise a replay.

    The digest is of the plaintext, not the ciphertext: an attacker can re-wrap the same
    plaintext key slot with different bytes, but cannot change what it decrypts to.
    """
    return hashlib.sha256(b"quietline replay v1\x00" + plaintext).digest()


class ReplayFilter:
    """Digests of inputs seen under each messaging key, forgotten when the key expires.

    A replay of a message encrypted to a key that has expired cannot be opened any more,
    so the digests for that key are no longer needed. ``seen`` restores what a store
    kept: (messaging key, digest) pairs.
    """

    def __init__(self, seen: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self._seen: dict[bytes, set[bytes]] = {}
        for key, digest in seen:
            self._seen.setdefault(key, set()).add(digest)

    def admit(self, key: bytes, plaintext: bytes) -> bytes | None:
        """Record ``plaintext`` under ``key``: its digest (for a store to keep) the first
        time, None when it was seen before (a replay)."""
        seen = self._seen.setdefault(key, set())
        digest = replay_digest(plaintext)
        if digest in seen:
            return None
        seen.add(digest)
        return digest

    def first_sighting(self, key: bytes, plaintext: bytes) -> bool:
        """Record ``plaintext`` under ``key``; False when it was seen before (a replay)."""
        return self.admit(key, plaintext) is not None

    def forget(self, key: bytes) -> None:
        self._seen.pop(key, None)

    def forget_all_but(self, live_keys: Iterable[bytes]) -> None:
        """Forget the digests of every key not in ``live_keys``."""
        keep = set(live_keys)
        for key in [key for key in self._seen if key not in keep]:
            del self._seen[key]

    def __len__(self) -> int:
        return sum(len(seen) for seen in self._seen.values())
