"""The send and download schedules: exact fixed rates, memoryless means, no catch-up bursts."""

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


def test_fixed_rate_with_coarse_ticks_keeps_its_phase() -> None:
    # Ticks every 7 s: each send happens at the first tick after its due time, and the
    # due times themselves stay on the 60 s grid.
    timetable = Timetable(FixedRate(timedelta(seconds=60)), T0 + timedelta(seconds=60))
    due_times = []
    for second in range(0, 700, 7):
        due = timetable.next_at
        if timetable.fire(T0 + timedelta(seconds=second)):
            due_times.append((due - T0).total_seconds())
    assert due_times == [60.0 * k for k in range(1, 12)]


def test_a_long_sleep_fires_once_then_resumes_from_now() -> None:
    timetable = Timetable(FixedRate(timedelta(seconds=60)), T0)
    later = T0 + timedelta(hours=5)
    assert timetable.fire(later)
    assert not timetable.fire(later)
    assert timetable.next_at == later + timedelta(seconds=60)


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
