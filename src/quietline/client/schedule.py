"""When a source client sends and downloads: small deterministic machines over time.

A :class:`Schedule` turns the previous event time into the next one. It is configured
the same way for every installation and never looks at the sending queue, so whether a
real message waits cannot change when a client sends. A :class:`Timetable` holds the
next due time and advances it; a client that was asleep past several due times fires
once and resumes from ``now`` rather than sending a burst to catch up.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol


class Schedule(Protocol):
    def next_after(self, previous: datetime) -> datetime:
        """The next event time after an event at ``previous``."""
        ...


class FixedRate:
    """One event every ``period``, exactly."""

    def __init__(self, period: timedelta) -> None:
        if period <= timedelta(0):
            raise ValueError("a schedule period must be positive")
        self.period = period

    def next_after(self, previous: datetime) -> datetime:
        return previous + self.period

    def __repr__(self) -> str:
        return f"FixedRate({self.period.total_seconds()} s)"


class Memoryless:
    """Exponentially distributed gaps of mean ``mean_period`` (a Poisson process).

    When the next event comes is independent of when the last one came, so an observer
    who sees one send learns nothing about the next. ``rng`` is injected so tests can
    pin it; production passes ``random.SystemRandom()``.
    """

    def __init__(self, mean_period: timedelta, rng: random.Random) -> None:
        if mean_period <= timedelta(0):
            raise ValueError("a schedule period must be positive")
        self.mean_period = mean_period
        self._rate = 1.0 / mean_period.total_seconds()
        self._rng = rng

    def next_after(self, previous: datetime) -> datetime:
        return previous + timedelta(seconds=self._rng.expovariate(self._rate))

    def __repr__(self) -> str:
        return f"Memoryless(mean {self.mean_period.total_seconds()} s)"


class Timetable:
    """The next due time of one schedule, advanced each time the event fires."""

    def __init__(self, schedule: Schedule, first_at: datetime) -> None:
        self._schedule = schedule
        self.next_at = first_at

    def due(self, now: datetime) -> bool:
        return now >= self.next_at

    def fire(self, now: datetime) -> bool:
        """Whether the event is due at ``now``; if so, move on to the next due time.

        At most one event fires per call. When the next time is still not after ``now``
        (the host slept through several), the schedule restarts from ``now``.
        """
        if not self.due(now):
            return False
        following = self._schedule.next_after(self.next_at)
        self.next_at = following if following > now else self._schedule.next_after(now)
        return True


def schedule_named(name: str, period: timedelta, rng: random.Random | None = None) -> Schedule:
    """``fixed`` or ``memoryless`` with ``period`` as the (mean) gap; ValueError otherwise."""
    if name == "fixed":
        return FixedRate(period)
    if name == "memoryless":
        return Memoryless(period, rng or random.SystemRandom())
    raise ValueError(f"unknown schedule {name!r}: use fixed or memoryless")
