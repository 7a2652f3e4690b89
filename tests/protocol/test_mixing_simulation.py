"""The simulation that drives the real batch machine: deterministic, and its figures
follow from the parameters and traffic (a release per timeout under steady traffic, at
threshold_max under a flood, never with too few inputs)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from quietline.protocol.mixing import MixingParameters
from quietline.protocol.mixing_simulation import Traffic, poisson, simulate

HOURLY = MixingParameters(100, 1000, timedelta(hours=1), 10)


def test_the_same_seed_gives_the_same_figures() -> None:
    traffic = Traffic(400, 2)
    first = simulate(HOURLY, traffic, 1, random.Random(7))
    assert first == simulate(HOURLY, traffic, 1, random.Random(7))


def test_steady_traffic_above_threshold_min_releases_once_per_timeout() -> None:
    outcome = simulate(HOURLY, Traffic(400, 2), 2, random.Random(1))
    assert outcome.releases_per_hour == pytest.approx(1, abs=0.05)
    assert outcome.inputs_per_release == pytest.approx(400, rel=0.1)
    # Real messages arrive evenly over the hour and wait for its end: half an hour on average.
    assert outcome.mean_delay_h == pytest.approx(0.5, abs=0.15)
    assert outcome.undelivered <= 10
    assert outcome.download_bytes_per_day(100) == pytest.approx(
        outcome.releases_per_hour * 24 * 10 * 100
    )


def test_a_flood_releases_at_threshold_max() -> None:
    outcome = simulate(HOURLY, Traffic(10_000, 0), 1, random.Random(1))
    assert outcome.releases_per_hour == pytest.approx(10, rel=0.05)
    assert outcome.inputs_per_release == pytest.approx(1000, rel=0.01)
    assert math.isnan(outcome.mean_delay_h)


def test_too_few_inputs_never_release() -> None:
    outcome = simulate(HOURLY, Traffic(3, 0), 1, random.Random(1))
    assert outcome.releases_per_hour == 0
    assert math.isnan(outcome.inputs_per_release)


@pytest.mark.parametrize("mean", [0.0, 0.5, 20.0, 5000.0])
def test_poisson_draws_have_the_mean_asked_for(mean: float) -> None:
    rng = random.Random(3)
    draws = [poisson(rng, mean) for _ in range(2000)]
    assert min(draws) >= 0
    assert sum(draws) / len(draws) == pytest.approx(mean, rel=0.1, abs=0.05)
