"""The slow-release warning: said when the observed input rate cannot reach a release
within two timeouts, never before ten minutes of observation, at most hourly a lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quietline.mixer.forecast import ReleaseWatch, describe, too_slow, warning
from quietline.protocol.mixing import (
    PRODUCTION_U2J,
    MixingParameters,
    MixState,
    ReleaseForecast,
    ThresholdMix,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SMALL = MixingParameters(3000, 24_000, HOUR, 10)


def forecast(parameters: MixingParameters, received: int, after: timedelta) -> ReleaseForecast:
    mix: ThresholdMix[str] = ThresholdMix(parameters, MixState(received, T0, ()))
    return mix.forecast(T0 + after)


def test_production_mixing_at_twenty_clients_is_too_slow() -> None:
    # 20 clients at one message a minute, for half an hour: 600 inputs.
    seen = forecast(PRODUCTION_U2J, 600, HOUR / 2)
    assert too_slow(PRODUCTION_U2J, seen)
    assert warning("u2j", PRODUCTION_U2J, seen, T0 + HOUR / 2) == (
        "u2j: at the current 0.33 inputs a second the next release is in 3.5 days"
        " (threshold_min 100000, 600 inputs so far): the mixing is sized for a larger crowd;"
        " see docs/deploy.md, 'Mixing sized to the crowd'"
    )


def test_mixing_sized_for_the_crowd_is_not_too_slow() -> None:
    # 100 clients: 3,000 inputs in half an hour; the timeout releases.
    seen = forecast(SMALL, 3000, HOUR / 2)
    assert not too_slow(SMALL, seen)
    assert warning("u2j", SMALL, seen, T0 + HOUR / 2) is None
    assert describe("u2j", SMALL, seen, T0 + HOUR / 2).startswith(
        "u2j: at the current 1.7 inputs a second the next release is in 30 minutes"
    )


def test_nothing_is_judged_on_less_than_ten_minutes() -> None:
    assert not too_slow(PRODUCTION_U2J, forecast(PRODUCTION_U2J, 1, timedelta(minutes=9)))


def test_no_input_at_all_says_who_should_be_sending() -> None:
    seen = forecast(SMALL, 0, 2 * HOUR)
    line = warning("j2u", SMALL, seen, T0 + 2 * HOUR)
    assert line is not None
    assert line.startswith("j2u: no input since the last release 2.0 hours ago")
    assert "desks" in line


def test_the_warning_comes_at_most_hourly_a_lane_even_when_the_rate_hovers() -> None:
    watch = ReleaseWatch()
    slow = forecast(PRODUCTION_U2J, 600, HOUR / 2)
    fine = forecast(SMALL, 3000, HOUR / 2)
    now = T0 + HOUR / 2
    assert watch.check("u2j", PRODUCTION_U2J, slow, now) is not None
    assert watch.check("u2j", PRODUCTION_U2J, slow, now + HOUR / 2) is None
    assert watch.check("j2u", PRODUCTION_U2J, slow, now + HOUR / 2) is not None  # its own lane
    assert watch.check("u2j", SMALL, fine, now + HOUR / 2) is None
    assert watch.check("u2j", PRODUCTION_U2J, slow, now + HOUR / 2) is None  # still this hour
    assert watch.check("u2j", PRODUCTION_U2J, slow, now + HOUR) is not None
