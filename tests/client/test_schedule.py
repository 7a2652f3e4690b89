"""The send and download schedules: exact fixed rates, memoryless means, no catch-up bursts."""

import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from quietline.client.schedule import FixedRate, Memoryless, Timetable, schedule_named

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_fixed_rate_fires_exactly_every_period() -> None:
    timetable = Timetable(FixedRate(timedelta(seconds=60)), T0 + timedelta(seconds=60))
    fired = []
    for second in range(0, 601):
        now = T0 + timedelta(seconds=second)
        if timetable.fire(now):
            fired.append(second)
    assert fired == [60, 120, 180, 240, 300, 360, 420, 480, 540, 600]


def test_fixed_rate_with_coarse_ticks_skips_what_it_missed_and_keeps_its_phase() -> None:
    # Ticks every 7 s: an event reached within the grace (a quarter period, at most 1 s)
    # happens; one reached later is skipped. Every due time stays on the 60 s grid.
    timetable = Timetable(FixedRate(timedelta(seconds=60)), T0 + timedelta(seconds=60))
    fired, skipped = [], []
    for second in range(0, 700, 7):
        due = timetable.next_at
        if timetable.fire(T0 + timedelta(seconds=second)):
            fired.append((due - T0).total_seconds())
        elif due <= T0 + timedelta(seconds=second):
            skipped.append((due - T0).total_seconds())
    # 7 x k is at most 1 s after a multiple of 60 only at 301 (7 x 43) and 420 (7 x 60).
    assert fired == [300.0, 420.0]
    assert sorted(fired + skipped) == [60.0 * k for k in range(1, 12)]


def test_a_stall_is_skipped_never_caught_up() -> None:
    # A tick 1.99 periods late, as after a long stall: nothing fires then, and the next
    # event is the next slot of the grid, never one right after the stall ends.
    timetable = Timetable(FixedRate(timedelta(seconds=60)), T0 + timedelta(seconds=60))
    late = T0 + timedelta(seconds=60 + 119.7)
    assert not timetable.fire(late)
    assert timetable.next_at == T0 + timedelta(seconds=180)
    assert not timetable.fire(late + timedelta(seconds=0.29))
    assert timetable.fire(T0 + timedelta(seconds=180))


def test_whatever_the_ticks_no_two_events_are_closer_than_a_period() -> None:
    rng = random.Random(5)
    period = timedelta(seconds=10)
    timetable = Timetable(FixedRate(period), T0)
    now, fired = T0, []
    for _ in range(5_000):
        now += timedelta(seconds=rng.choice([0.01, 0.3, 0.9, 3.0, 9.99, 17.0, 61.5]))
        if timetable.fire(now):
            fired.append(now)
    assert len(fired) > 100
    assert all(b - a >= period - timetable.grace for a, b in itertools.pairwise(fired))


def test_an_event_a_little_late_still_happens_and_the_grid_holds() -> None:
    timetable = Timetable(FixedRate(timedelta(seconds=60)), T0 + timedelta(seconds=60))
    assert timetable.grace == timedelta(seconds=1)
    assert timetable.fire(T0 + timedelta(seconds=60.8))
    assert timetable.next_at == T0 + timedelta(seconds=120)
    assert not timetable.fire(T0 + timedelta(seconds=121.2))
    assert timetable.next_at == T0 + timedelta(seconds=180)


def test_a_short_period_has_a_grace_of_a_quarter_of_it() -> None:
    timetable = Timetable(FixedRate(timedelta(seconds=2)), T0)
    assert timetable.grace == timedelta(seconds=0.5)
    assert not timetable.fire(T0 + timedelta(seconds=0.6))
    assert timetable.next_at == T0 + timedelta(seconds=2)


def test_a_phase_shifts_the_grid_and_first_slots_follow_it() -> None:
    period = timedelta(seconds=60)
    shifted = FixedRate.with_phase(period, 0.25)
    assert shifted.next_after(T0) == T0 + timedelta(seconds=15)
    assert shifted.next_after(T0 + timedelta(seconds=15)) == T0 + timedelta(seconds=75)
    assert FixedRate(period).next_after(T0 + timedelta(seconds=1)) == T0 + period
    # Started at any moment, a timetable lands on the same grid: a restart keeps the phase.
    for offset in (0.0, 3.5, 59.9, 3600.2):
        timetable = Timetable.after(shifted, T0 + timedelta(seconds=offset))
        assert (timetable.next_at - T0 - timedelta(seconds=15)) % period == timedelta(0)
    with pytest.raises(ValueError, match="phase"):
        FixedRate.with_phase(period, 1.0)


def test_a_missed_memoryless_event_is_skipped_and_the_next_drawn_from_now() -> None:
    schedule = Memoryless(timedelta(seconds=60), random.Random(3))
    timetable = Timetable(schedule, T0)
    late = T0 + timedelta(minutes=30)
    assert not timetable.fire(late)
    assert timetable.next_at > late


def test_memoryless_gaps_have_the_configured_mean() -> None:
    schedule = Memoryless(timedelta(seconds=60), random.Random(20260101))
    previous = T0
    gaps = []
    for _ in range(20_000):
        following = schedule.next_after(previous)
        gaps.append((following - previous).total_seconds())
        previous = following
    assert all(gap > 0 for gap in gaps)
    assert statistics.fmean(gaps) == pytest.approx(60, rel=0.03)
    # Exponential gaps: the standard deviation equals the mean.
    assert statistics.pstdev(gaps) == pytest.approx(60, rel=0.05)


def test_memoryless_is_reproducible_from_its_seed() -> None:
    def times(seed: int) -> list[datetime]:
        schedule = Memoryless(timedelta(seconds=30), random.Random(seed))
        out = [T0]
        for _ in range(50):
            out.append(schedule.next_after(out[-1]))
        return out

    assert times(7) == times(7)
    assert times(7) != times(8)


def test_schedules_are_named_and_checked() -> None:
    assert isinstance(schedule_named("fixed", timedelta(seconds=5)), FixedRate)
    assert isinstance(schedule_named("memoryless", timedelta(seconds=5)), Memoryless)
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_named("bursty", timedelta(seconds=5))
    with pytest.raises(ValueError, match="positive"):
        FixedRate(timedelta(0))
    with pytest.raises(ValueError, match="positive"):
        Memoryless(timedelta(seconds=-1), random.Random(1))


def test_a_named_fixed_schedule_takes_the_installation_phase() -> None:
    schedule = schedule_named("fixed", timedelta(seconds=40), phase=0.5)
    assert schedule.next_after(T0) == T0 + timedelta(seconds=20)
