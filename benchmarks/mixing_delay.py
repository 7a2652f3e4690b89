"""What a round trip costs with CoverDrop's production mixing at its planning traffic.

Run: ``.venv/bin/python benchmarks/mixing_delay.py [--days D] [--seed S]``

Drives Quietline's own ``ThresholdMix`` (the batch machine the mixer runs) with Poisson
arrivals in 10-second steps of simulated time: CoverDrop's low and high planning cases
(500,000 and 5,000,000 clients at 0.17 messages an hour; 50 and 100 real U2J an hour;
20 and 100 J2C an hour with 5 and 15 real). Prints, per direction and case, the release
rate, the mixing delay of real messages, dead-drop sizes and what a reader downloads a
day, then the mean source → desk → source round trip with each side polling hourly
(CoverDrop's client download rate) and a desk sending one J2C per period.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quietline.protocol.constants import C2J_ENCRYPTED_LEN, J2U_ENCRYPTED_LEN
from quietline.protocol.mixing import PRODUCTION_J2U, PRODUCTION_U2J, MixingParameters, ThresholdMix

STEP = timedelta(seconds=10)
CLIENT_POLL_HOURS = 1.0


@dataclass(frozen=True)
class Case:
    name: str
    parameters: MixingParameters
    inputs_per_hour: float
    real_per_hour: float
    entry_bytes: int


@dataclass(frozen=True)
class Outcome:
    releases_per_hour: float
    mean_delay_h: float
    p95_delay_h: float
    entries_per_release: int
    reader_mib_per_day: float
    undelivered: int


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


def release_if_due(mix: ThresholdMix[datetime], now: datetime, delays: list[float]) -> int:
    """Release if due, recording each real message's delay in hours; 1 if it released."""
    if not mix.due(now):
        return 0
    batch = mix.release(now, lambda: now)
    delays.extend((batch.released_at - sent).total_seconds() / 3600 for sent in batch.real)
    return 1


def simulate(case: Case, days: float, rng: random.Random) -> Outcome:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    mix: ThresholdMix[datetime] = ThresholdMix.start(case.parameters, start, rng)
    steps = int(days * 24 * 3600 / STEP.total_seconds())
    per_step = STEP.total_seconds() / 3600
    delays: list[float] = []
    releases = 0
    now = start
    for _ in range(steps):
        now += STEP
        arrivals = poisson(rng, case.inputs_per_hour * per_step)
        for _ in range(min(arrivals, poisson(rng, case.real_per_hour * per_step))):
            mix.receive(now)
            arrivals -= 1
        while arrivals:
            # Split the step's cover where it crosses threshold_max, as one-by-one arrival would.
            room = max(1, case.parameters.threshold_max - mix.state().received)
            batch = min(arrivals, room)
            mix.receive_cover(batch)
            arrivals -= batch
            releases += release_if_due(mix, now, delays)
        releases += release_if_due(mix, now, delays)
    hours = days * 24
    size = case.parameters.output_size
    return Outcome(
        releases_per_hour=releases / hours,
        mean_delay_h=statistics.fmean(delays) if delays else float("nan"),
        p95_delay_h=statistics.quantiles(delays, n=20)[-1] if len(delays) > 20 else float("nan"),
        entries_per_release=size,
        reader_mib_per_day=releases / days * size * case.entry_bytes / 2**20,
        undelivered=mix.pending,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="simulated days per case")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    arguments = parser.parse_args()
    cases = [
        Case("U2J low (500k clients)", PRODUCTION_U2J, 500_000 * 0.17, 50, C2J_ENCRYPTED_LEN),
        Case("U2J high (5M clients)", PRODUCTION_U2J, 5_000_000 * 0.17, 100, C2J_ENCRYPTED_LEN),
        Case("J2U low (20 J2C/h)", PRODUCTION_J2U, 20, 5, J2U_ENCRYPTED_LEN),
        Case("J2U high (100 J2C/h)", PRODUCTION_J2U, 100, 15, J2U_ENCRYPTED_LEN),
    ]
    print(
        f"{'case':<24} {'releases/h':>10} {'mean delay':>11} {'p95 delay':>10} "
        f"{'entries':>8} {'reader MiB/day':>15}"
    )
    print("-" * 83)
    outcomes = {}
    for case in cases:
        outcome = simulate(case, arguments.days, random.Random(arguments.seed))
        outcomes[case.name] = outcome
        print(
            f"{case.name:<24} {outcome.releases_per_hour:>10.2f} "
            f"{outcome.mean_delay_h * 60:>8.1f} min {outcome.p95_delay_h * 60:>6.1f} min "
            f"{outcome.entries_per_release:>8} {outcome.reader_mib_per_day:>15.2f}"
        )
    print()
    for traffic, u2j, j2u in (("low", cases[0], cases[2]), ("high", cases[1], cases[3])):
        # Waiting for the next hourly poll after a release costs half an hour on average, on
        # each side; the desk's reply waits half a send period (assumed an hour) for its slot.
        wait = CLIENT_POLL_HOURS / 2
        total = (
            outcomes[u2j.name].mean_delay_h + wait + 0.5 + outcomes[j2u.name].mean_delay_h + wait
        )
        print(
            f"round trip, {traffic} traffic: {total:.2f} h mean "
            f"(U2J mix {outcomes[u2j.name].mean_delay_h:.2f} h + desk poll {wait:.2f} h + "
            f"reply slot 0.50 h + J2U mix {outcomes[j2u.name].mean_delay_h:.2f} h + "
            f"source poll {wait:.2f} h), before anyone types a reply"
        )


if __name__ == "__main__":
    main()
