"""Time, injected: services take ``now`` as an argument; a Clock is read only where a
step starts (``quietline.runner``, a command, the edge answering a request).

``SystemClock`` is the wall clock. ``FixedClock`` is for tests that move time by hand,
so they can watch keys expire and rotate without sleeping for weeks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta
