"""Whether the mixing parameters can release at the rate inputs come in.

Parameters sized for a crowd far larger than the one that shows up wait for days between
releases (CoverDrop's production ones at a small organisation). The mix's own counts say
so: how many inputs (cover and real alike) arrived since the last release and when that
was (:meth:`~quietline.protocol.mixing.ThresholdMix.forecast`). :class:`ReleaseWatch`
turns a forecast into a warning for the operator, at most once per
:data:`WARNING_INTERVAL` a lane. Pure: time comes in as arguments. A warning gives the
rate of all inputs and a time: what an observer of the edge sees anyway, never how many
were real or anything about a client.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from quietline.protocol.mixing import MixingParameters, ReleaseForecast

# A forecast on less than this says more about chance than about the rate.
MIN_OBSERVATION = timedelta(minutes=10)
# Releases further apart than this many timeouts mean the parameters do not fit the input.
SLOW_FACTOR = 2
WARNING_INTERVAL = timedelta(hours=1)
DOCS = "see docs/deploy.md, 'Mixing sized to the crowd'"
# Who sends into each lane, for a warning that no input arrives.
SENDERS = {"u2j": "source clients", "j2u": "desks"}


def too_slow(parameters: MixingParameters, forecast: ReleaseForecast) -> bool:
    """Whether, at the rate observed, the next release comes more than SLOW_FACTOR
    timeouts after the last (or never)."""
    if forecast.observed < MIN_OBSERVATION:
        return False
    if forecast.next_release is None:
        return True
    return forecast.next_release - forecast.last_release > SLOW_FACTOR * parameters.timeout


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{hours * 60:.0f} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"


def describe(
    lane: str, parameters: MixingParameters, forecast: ReleaseForecast, now: datetime
) -> str:
    """One line: the input rate and when the next release comes at it."""
    rate = f"at the current {forecast.inputs_per_second:.2g} inputs a second"
    if forecast.next_release is None:
        when = "the next release never comes"
    elif forecast.next_release <= now:
        when = "a release is due now"
    else:
        when = f"the next release is in {_span(forecast.next_release - now)}"
    return (
        f"{lane}: {rate} {when} (threshold_min {parameters.threshold_min},"
        f" {forecast.received} inputs so far)"
    )


def warning(
    lane: str, parameters: MixingParameters, forecast: ReleaseForecast, now: datetime
) -> str | None:
    """The operator's warning when the parameters cannot release at the observed rate;
    None when they can."""
    if not too_slow(parameters, forecast):
        return None
    if forecast.received == 0:
        return (
            f"{lane}: no input since the last release {_span(forecast.observed)} ago:"
            f" nothing reaches the mixer from the {SENDERS.get(lane, 'senders')}; are they"
            " running, and is the edge reachable?"
        )
    return (
        f"{describe(lane, parameters, forecast, now)}: the mixing is sized for a larger"
        f" crowd; {DOCS}"
    )


class ReleaseWatch:
    """Each lane's slow-release warning, at most once per WARNING_INTERVAL."""

    def __init__(self) -> None:
        self._warned_at: dict[str, datetime] = {}

    def check(
        self, lane: str, parameters: MixingParameters, forecast: ReleaseForecast, now: datetime
    ) -> str | None:
        line = warning(lane, parameters, forecast, now)
        if line is None:
            return None
        # Kept across a recovery, so a rate hovering at the edge cannot make it chatty.
        last = self._warned_at.get(lane)
        if last is not None and now - last < WARNING_INTERVAL:
            return None
        self._warned_at[lane] = now
        return line
