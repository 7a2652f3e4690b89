"""What a mixing configuration costs, found by driving the real batch machine.

:func:`simulate` feeds a :class:`~quietline.protocol.mixing.ThresholdMix` (the machine
the mixer runs) with Poisson arrivals in 10-second steps of simulated time and measures
what comes out: how often it releases, how long real messages wait, how many inputs
each release hides a message among. Pure and deterministic: time is simulated and the
randomness comes from the ``rng`` passed in, so the same seed gives the same figures.
The benchmarks and the crowd presets (:mod:`quietline.admin.crowd`) use it.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quietline.protocol.mixing import MixingParameters, ThresholdMix

STEP = timedelta(seconds=10)
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Traffic:
    """What arrives at one lane of the mix: every input, and the real ones among them."""

    inputs_per_hour: float
    real_per_hour: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a simulated run of one lane measured."""

    releases_per_hour: float
    mean_delay_h: float  # nan when no real message was released
    p95_delay_h: float  # nan with 20 or fewer released
    inputs_per_release: float  # the crowd each release hides its real messages among
    entries_per_release: int
    undelivered: int  # real messages still waiting at the end

    def download_bytes_per_day(self, entry_bytes: int) -> float:
        """What reading every release costs a day, at ``entry_bytes`` an entry."""
        return self.releases_per_hour * 24 * self.entries_per_release * entry_bytes


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation for large means, exact for small ones)."""
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class _Tally:
    releases: int = 0
    inputs: int = 0


def _release_if_due(
    mix: ThresholdMix[datetime], now: datetime, delays: list[float], tally: _Tally
) -> None:
    """Release if due, recording each real message's delay in hours."""
    if not mix.due(now):
        return
    tally.inputs += mix.received
    batch = mix.release(now, lambda: now)
    tally.releases += 1
    delays.extend((batch.released_at - sent).total_seconds() / 3600 for sent in batch.real)


def simulate(
    parameters: MixingParameters, traffic: Traffic, days: float, rng: random.Random
) -> Outcome:
    """Run the mix for ``days`` of simulated time under ``traffic``."""
    mix: ThresholdMix[datetime] = ThresholdMix.start(parameters, START, rng)
    steps = int(days * 24 * 3600 / STEP.total_seconds())
    per_step = STEP.total_seconds() / 3600
    delays: list[float] = []
    tally = _Tally()
    now = START
    for _ in range(steps):
        now += STEP
        arrivals = poisson(rng, traffic.inputs_per_hour * per_step)
        for _ in range(min(arrivals, poisson(rng, traffic.real_per_hour * per_step))):
            mix.receive(now)
            arrivals -= 1
        while arrivals:
            # Split the step's cover where it crosses threshold_max, as one-by-one arrival would.
            room = max(1, parameters.threshold_max - mix.received)
            batch = min(arrivals, room)
            mix.receive_cover(batch)
            arrivals -= batch
            _release_if_due(mix, now, delays, tally)
        _release_if_due(mix, now, delays, tally)
    return Outcome(
        releases_per_hour=tally.releases / (days * 24),
        mean_delay_h=statistics.fmean(delays) if delays else math.nan,
        p95_delay_h=statistics.quantiles(delays, n=20)[-1] if len(delays) > 20 else math.nan,
        inputs_per_release=tally.inputs / tally.releases if tally.releases else math.nan,
        entries_per_release=parameters.output_size,
        undelivered=mix.pending,
    )
