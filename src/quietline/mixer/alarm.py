"""The mixer's input alarm: a flood, or an edge holding messages back, shows in the counts.

A mix hides a message among the others in its batch only if those others come from
other people. A client sending at many times the normal rate, or an edge that withholds
everyone's messages but one (the "(n-1) attack"), shrinks that crowd; the first moves
the input rate up, the second moves it down or, if the edge fills the gap with cover of
its own, moves the share of real messages. :class:`InputMonitor` watches one lane's
counts in fixed windows, keeps an exponentially weighted baseline of the input rate and
of the real share, and raises an :class:`Alarm` when a closed window's count lies beyond
a configurable factor of what the baseline expected.

Pure: time comes in as arguments, nothing is read or written. An alarm says only which
lane, which count and a coarse factor (a power of two): never a per-message or per-batch
figure, and never which inputs were real.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from quietline.protocol.api import Direction
from quietline.protocol.errors import MisuseError

# The lanes by the names the configuration gives them ([mixer.override.u2j] and so on).
LANE_NAMES = {Direction.USER: "u2j", Direction.JOURNALIST: "j2u"}


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    """When a window's counts are unusual enough to alarm.

    ``rate_factor``: alarm when a window's inputs exceed ``rate_factor`` times the
    baseline's expectation, or fall below it divided by ``rate_factor``. ``share_factor``:
    the same for the number of real messages among them. ``smoothing``: the weight of the
    newest window in the baseline. No alarm before ``warmup`` windows have built a
    baseline, and none on fewer than ``min_count`` inputs (or real messages) on the larger
    side of the comparison: small numbers jump by chance.
    """

    window: timedelta = timedelta(hours=1)
    rate_factor: float = 4.0
    share_factor: float = 4.0
    smoothing: float = 0.2
    warmup: int = 3
    min_count: int = 20

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise MisuseError("an alarm window must be positive")
        if not (self.rate_factor > 1 and self.share_factor > 1):
            raise MisuseError("alarm factors must be above 1")
        if not 0 < self.smoothing <= 1:
            raise MisuseError("alarm smoothing must be above 0 and at most 1")
        if self.warmup < 1 or self.min_count < 1:
            raise MisuseError("alarm warmup and min_count must be at least 1")


class AlarmKind(enum.Enum):
    RATE_UP = "input rate rose"
    RATE_DOWN = "input rate fell"
    SHARE_UP = "share of real messages rose"
    SHARE_DOWN = "share of real messages fell"


@dataclass(frozen=True, slots=True)
class Alarm:
    """One unusual window of one lane: ``factor`` is a power of two the change exceeds."""

    lane: str
    kind: AlarmKind
    factor: int
    window: timedelta

    @property
    def metric(self) -> str:
        """The counter this alarm bumps, e.g. ``alarm_u2j_rate_up``."""
        return f"alarm_{self.lane}_{self.kind.name.lower()}"

    def line(self) -> str:
        """The operator's log line: counts only, coarse, no client or message detail."""
        minutes = self.window.total_seconds() / 60
        return (
            f"ALARM {self.lane}: {self.kind.value} more than {self.factor}x against the"
            f" baseline over the last {minutes:g} min window (a flood, or an edge holding"
            " messages back? see docs/deploy.md, 'The input alarm')"
        )


def coarse_factor(ratio: float) -> int:
    """The largest power of two at most ``ratio`` (1 below 2, at most 2**20): what a log
    line shows."""
    if not ratio >= 2:
        return 1
    return 1 << int(math.log2(min(ratio, 2.0**20)))


@dataclass(frozen=True, slots=True)
class Baseline:
    """Inputs per second and the real share, smoothed over the windows seen so far."""

    rate: float
    share: float
    windows: int


class InputMonitor:
    """Counts one lane's inputs in windows of ``settings.window`` starting at ``start``.

    Feed it with :meth:`observe` after every pull; it returns the alarms of any window
    that closed. A window closes at the first observation at or after its end, so its
    length is measured, not assumed (a mixer that paused still compares rates fairly).
    The first window is neither judged nor learnt from: after a start it holds whatever
    queued up while the mixer was down.
    """

    def __init__(self, lane: str, settings: AlarmSettings, start: datetime) -> None:
        self.lane = lane
        self.settings = settings
        self._window_start = start
        self._inputs = 0
        self._real = 0
        self._first = True
        self.baseline: Baseline | None = None

    def observe(self, now: datetime, inputs: int, real: int) -> list[Alarm]:
        """Count ``inputs`` (cover and real) of which ``real`` were real, arrived by
        ``now``; returns the alarms of the window this closes, if it closes one.

        Raises MisuseError for negative counts or more real than inputs."""
        if not 0 <= real <= inputs:
            raise MisuseError("an observation needs 0 <= real <= inputs")
        self._inputs += inputs
        self._real += real
        if now - self._window_start < self.settings.window:
            return []
        seconds = (now - self._window_start).total_seconds()
        alarms: list[Alarm] = []
        if not self._first:
            alarms = self._judge(seconds, self._inputs, self._real)
            self._absorb(seconds, self._inputs, self._real)
        self._window_start, self._inputs, self._real, self._first = now, 0, 0, False
        return alarms

    def _judge(self, seconds: float, inputs: int, real: int) -> list[Alarm]:
        baseline = self.baseline
        if baseline is None or baseline.windows < self.settings.warmup:
            return []
        alarms = []
        rate = self._compare(inputs, baseline.rate * seconds, self.settings.rate_factor)
        if rate is not None:
            alarms.append(self._alarm(AlarmKind.RATE_UP, AlarmKind.RATE_DOWN, rate))
        share = self._compare(real, baseline.share * inputs, self.settings.share_factor)
        if share is not None:
            alarms.append(self._alarm(AlarmKind.SHARE_UP, AlarmKind.SHARE_DOWN, share))
        return alarms

    def _compare(self, seen: int, expected: float, factor: float) -> float | None:
        """The ratio seen/expected (or its inverse, negated, for a fall) when it lies
        beyond ``factor`` with enough counts to mean something; None otherwise."""
        floor = self.settings.min_count
        if seen >= floor and seen > factor * max(expected, 1.0):
            return seen / max(expected, 1.0)
        if expected >= floor and seen * factor < expected:
            return -expected / max(seen, 1)
        return None

    def _alarm(self, up: AlarmKind, down: AlarmKind, ratio: float) -> Alarm:
        kind = up if ratio > 0 else down
        return Alarm(self.lane, kind, coarse_factor(abs(ratio)), self.settings.window)

    def _absorb(self, seconds: float, inputs: int, real: int) -> None:
        rate = inputs / seconds if seconds > 0 else 0.0
        share = real / inputs if inputs else None
        old = self.baseline
        if old is None:
            self.baseline = Baseline(rate, share or 0.0, 1)
            return
        weight = self.settings.smoothing
        self.baseline = Baseline(
            (1 - weight) * old.rate + weight * rate,
            old.share if share is None else (1 - weight) * old.share + weight * share,
            old.windows + 1,
        )


class LaneWatch:
    """An :class:`InputMonitor` per lane, fed in two moves by a service loop: :meth:`count`
    for each page taken in, :meth:`close` once per step."""

    def __init__(self, settings: AlarmSettings) -> None:
        self.settings = settings
        self._monitors: dict[Direction, InputMonitor] = {}
        self._counts = dict.fromkeys(Direction, (0, 0))

    def count(self, direction: Direction, inputs: int, real: int) -> None:
        seen_inputs, seen_real = self._counts[direction]
        self._counts[direction] = (seen_inputs + inputs, seen_real + real)

    def close(self, now: datetime) -> list[Alarm]:
        """Hand the step's counts to each lane's monitor; the alarms of windows closed."""
        alarms = []
        for direction in Direction:
            monitor = self._monitors.get(direction)
            if monitor is None:
                monitor = InputMonitor(LANE_NAMES[direction], self.settings, now)
                self._monitors[direction] = monitor
            inputs, real = self._counts[direction]
            self._counts[direction] = (0, 0)
            alarms += monitor.observe(now, inputs, real)
        return alarms
