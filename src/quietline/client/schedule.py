"""When a source client sends and downloads: small deterministic machines over time.

A :class:`Schedule` gives the first event time strictly after a moment. It is configured
the same way for every installation and never looks at the sending queue, so whether a
real message waits cannot change when a client sends. A :class:`Timetable` holds the
next due time and advances it.

A missed event is skipped, never caught up: an event is kept only when the client gets
to it within ``grace`` of its time; whatever the delay, the next event is the schedule's
first one strictly after the moment the client noticed. So a host that slept, or a busy
machine, shows a gap in the traffic (as a phone in a tunnel does) and never a burst of
events closer together than the schedule makes them.

A :class:`FixedRate` schedule keeps its slots on a grid ``origin + k x period``. Each
installation draws a random phase at its first start (kept in its cache) so installs
do not all fire at the same instant; the grid stays put across restarts and stalls.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Protocol

# The origin of every fixed-rate grid before an installation's phase shifts it.
GRID_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
# An event the client reaches later than this after its time is skipped (a quarter of
# the period when that is shorter).
MAX_LATENESS = timedelta(seconds=1)


class Schedule(Protocol):
    @property
    def period(self) -> timedelta:
        """The (mean) gap between events."""
        ...

    def next_after(self, moment: datetime) -> datetime:
        """The first event time strictly after ``moment``."""
        ...


class FixedRate:
    """One event every ``period``, exactly, on the grid ``origin + k x period``."""

    def __init__(self, period: timedelta, origin: datetime = GRID_ORIGIN) -> None:
        if period <= timedelta(0):
            raise ValueError("a schedule period must be positive")
        self._period = period
        self.origin = origin

    @classmethod
    def with_phase(cls, period: timedelta, phase: float) -> FixedRate:
        """The grid shifted by ``phase`` (in [0, 1)) of a period from ``GRID_ORIGIN``."""
        if not 0.0 <= phase < 1.0:
            raise ValueError("a schedule phase is a fraction in [0, 1)")
        return cls(period, GRID_ORIGIN + period * phase)

    @property
    def period(self) -> timedelta:
        return self._period

    def next_after(self, moment: datetime) -> datetime:
        slots = (moment - self.origin) // self._period + 1
        return self.origin + self._period * slots

    def __repr__(self) -> str:
        return f"FixedRate({self._period.total_seconds()} s)"


class Memoryless:
    """Exponentially distributed gaps of mean ``mean_period`` (a Poisson process).

    When the next event comes is independent of when the last one came, so an observer
    who sees one send learns nothing about the next (and no phase is needed). ``rng`` is
    injected so tests can pin it; production passes ``random.SystemRandom()``.
    """

    def __init__(self, mean_period: timedelta, rng: random.Random) -> None:
        if mean_period <= timedelta(0):
            raise ValueError("a schedule period must be positive")
        self.mean_period = mean_period
        self._rate = 1.0 / mean_period.total_seconds()
        self._rng = rng

    @property
    def period(self) -> timedelta:
        return self.mean_period

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self._rng.expovariate(self._rate))

    def __repr__(self) -> str:
        return f"Memoryless(mean {self.mean_period.total_seconds()} s)"


class Timetable:
    """The next due time of one schedule, advanced each time it comes round."""

    def __init__(
        self, schedule: Schedule, first_at: datetime, grace: timedelta | None = None
    ) -> None:
        self._schedule = schedule
        self.next_at = first_at
        self.grace = min(MAX_LATENESS, schedule.period / 4) if grace is None else grace

    @classmethod
    def after(cls, schedule: Schedule, now: datetime) -> Timetable:
        """A timetable whose first event is the schedule's first one after ``now``."""
        return cls(schedule, schedule.next_after(now))

    def due(self, now: datetime) -> bool:
        return now >= self.next_at

    def fire(self, now: datetime) -> bool:
        """Whether the event due by ``now`` happens now: True when it is due and at most
        ``grace`` late, False when it is not due yet or was missed (then it is skipped).
        Either way, once due, the next due time is the schedule's first after ``now``."""
        if not self.due(now):
            return False
        on_time = now - self.next_at <= self.grace
        self.next_at = self._schedule.next_after(now)
        return on_time


def schedule_named(
    name: str, period: timedelta, phase: float = 0.0, rng: random.Random | None = None
) -> Schedule:
    """``fixed`` (on a grid shifted by ``phase``, a fraction of the period) or
    ``memoryless`` with ``period`` as the (mean) gap; ValueError otherwise."""
    if name == "fixed":
        return FixedRate.with_phase(period, phase)
    if name == "memoryless":
        return Memoryless(period, rng or random.SystemRandom())
    raise ValueError(f"unknown schedule {name!r}: use fixed or memoryless")
