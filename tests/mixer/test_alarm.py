"""The input alarm's detector (quietline.mixer.alarm): pure, driven window by window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.mixer.alarm import (
    Alarm,
    AlarmKind,
    AlarmSettings,
    InputMonitor,
    LaneWatch,
    coarse_factor,
)
from quietline.protocol.api import Direction
from quietline.protocol.errors import MisuseError

T0 = datetime(2026, 5, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
SETTINGS = AlarmSettings(window=WINDOW, warmup=3, min_count=20)


def run(windows: list[tuple[int, int]], settings: AlarmSettings = SETTINGS) -> list[list[Alarm]]:
    """Feed one (inputs, real) pair per window, after a first window of nothing (which
    the monitor skips); the alarms of each window."""
    monitor = InputMonitor("u2j", settings, T0)
    assert monitor.observe(T0 + WINDOW, 0, 0) == []
    return [
        monitor.observe(T0 + WINDOW * (n + 2), inputs, real)
        for n, (inputs, real) in enumerate(windows)
    ]


def kinds(alarms: list[Alarm]) -> set[AlarmKind]:
    return {alarm.kind for alarm in alarms}


NORMAL = [(1000, 100)] * 5


def test_steady_traffic_never_alarms() -> None:
    assert run(NORMAL * 4) == [[]] * 20


def test_a_flood_raises_the_rate_alarm_once_the_baseline_is_built() -> None:
    alarms = run([*NORMAL, (5000, 500)])
    assert alarms[:5] == [[]] * 5
    (alarm,) = alarms[5]
    assert (alarm.kind, alarm.factor, alarm.metric) == (AlarmKind.RATE_UP, 4, "alarm_u2j_rate_up")


def test_a_flood_of_cover_also_dilutes_the_share_of_real_messages() -> None:
    assert kinds(run([*NORMAL, (5000, 100)])[5]) == {AlarmKind.RATE_UP, AlarmKind.SHARE_DOWN}


def test_no_alarm_before_the_warmup_windows() -> None:
    assert run([(1000, 100), (1000, 100), (50_000, 100)])[2] == []


def test_an_edge_that_holds_everything_back_raises_the_falling_rate_alarm() -> None:
    (alarm,) = run([*NORMAL, (1, 1)])[5]
    assert alarm.kind is AlarmKind.RATE_DOWN
    assert alarm.factor == 512  # 1000 expected, 1 seen: more than 2**9 times fewer


def test_an_edge_that_fills_the_gap_with_cover_raises_the_share_alarm() -> None:
    # The (n-1) attack: the usual number of inputs, but all but one real message withheld.
    assert kinds(run([*NORMAL, (1000, 1)])[5]) == {AlarmKind.SHARE_DOWN}


def test_a_crowd_of_real_messages_raises_the_rising_share_alarm() -> None:
    assert kinds(run([*NORMAL, (1000, 900)])[5]) == {AlarmKind.SHARE_UP}


def test_a_window_of_more_time_expects_more_inputs() -> None:
    """A window closes at the first observation after its end: a mixer that paused for
    three windows compares three windows' worth of inputs."""
    monitor = InputMonitor("u2j", SETTINGS, T0)
    at = T0
    for _ in range(6):
        at += WINDOW
        monitor.observe(at, 1000, 100)
    assert monitor.observe(at + 3 * WINDOW, 3000, 300) == []
    assert kinds(monitor.observe(at + 4 * WINDOW, 5000, 500)) == {AlarmKind.RATE_UP}


def test_the_first_window_holds_a_backlog_and_is_not_learnt() -> None:
    monitor = InputMonitor("u2j", SETTINGS, T0)
    monitor.observe(T0 + WINDOW, 1_000_000, 0)  # what queued up while the mixer was down
    for n in range(2, 6):
        monitor.observe(T0 + n * WINDOW, 1000, 100)
    assert monitor.baseline is not None
    assert monitor.baseline.windows == 4
    assert monitor.baseline.rate == pytest.approx(1000 / WINDOW.total_seconds())


def test_the_log_line_says_which_lane_and_a_coarse_factor_and_no_count() -> None:
    (alarm,) = run([*NORMAL, (1000, 1)])[5]
    line = alarm.line()
    assert line.startswith("ALARM u2j: share of real messages fell more than 64x")
    assert set(re.findall(r"\d+", line)) == {"2", "64", "10"}  # u2j, 64x, 10 min


counts = st.integers(min_value=0, max_value=10**6)


@given(st.lists(st.tuples(counts, st.floats(min_value=0, max_value=1)), max_size=12))
def test_small_counts_never_alarm(windows: list[tuple[int, float]]) -> None:
    """Below min_count on both sides of every comparison, chance is all there is."""
    small = [(inputs % 20, int(inputs % 20 * share)) for inputs, share in windows]
    assert all(alarms == [] for alarms in run(small))


@given(
    st.integers(min_value=200, max_value=10**6),
    st.floats(min_value=0.1, max_value=0.9),
    st.lists(st.tuples(st.floats(0.6, 1.6), st.floats(0.6, 1.6)), min_size=1, max_size=20),
)
def test_traffic_within_the_factors_never_alarms(
    rate: int, share: float, wobble: list[tuple[float, float]]
) -> None:
    """Windows that stay within 1.6x either way of a steady level never cross 4x."""
    windows = [(rate, int(rate * share))] * 3
    for rate_wobble, share_wobble in wobble:
        inputs = int(rate * rate_wobble)
        windows.append((inputs, min(inputs, int(inputs * share * share_wobble))))
    assert all(alarms == [] for alarms in run(windows))


@given(st.integers(min_value=200, max_value=10**5), st.floats(min_value=4.5, max_value=1000))
def test_a_jump_beyond_the_factor_always_alarms(rate: int, jump: float) -> None:
    up = run([(rate, 0)] * 3 + [(int(rate * jump), 0)])[3]
    down = run([(rate, 0)] * 3 + [(int(rate / jump), 0)])[3]
    assert kinds(up) == {AlarmKind.RATE_UP}
    assert kinds(down) == {AlarmKind.RATE_DOWN}
    assert up[0].factor <= jump < 2 * up[0].factor


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_the_coarse_factor_is_a_power_of_two_just_below(ratio: float) -> None:
    factor = coarse_factor(ratio)
    assert factor & (factor - 1) == 0
    assert factor == 1 or factor <= ratio
    assert factor == 2**20 or ratio < 2 * factor


def test_bad_counts_and_settings_are_misuse() -> None:
    monitor = InputMonitor("u2j", SETTINGS, T0)
    with pytest.raises(MisuseError):
        monitor.observe(T0, 1, 2)
    with pytest.raises(MisuseError):
        monitor.observe(T0, -1, 0)
    for bad in (
        {"window": timedelta(0)},
        {"rate_factor": 1.0},
        {"share_factor": float("nan")},
        {"smoothing": 0.0},
        {"warmup": 0},
        {"min_count": 0},
    ):
        with pytest.raises(MisuseError):
            AlarmSettings(**bad)


def test_the_lane_watch_keeps_the_lanes_apart() -> None:
    watch = LaneWatch(SETTINGS)
    assert watch.close(T0) == []
    for n in range(1, 6):
        watch.count(Direction.USER, 1000, 100)
        watch.count(Direction.JOURNALIST, 50, 5)
        assert watch.close(T0 + n * WINDOW) == []
    watch.count(Direction.USER, 1000, 100)
    watch.count(Direction.JOURNALIST, 5000, 500)
    (alarm,) = watch.close(T0 + 6 * WINDOW)
    assert (alarm.lane, alarm.kind) == ("j2u", AlarmKind.RATE_UP)
