"""The one run loop: steps at the clock's time, reports handed on in order, the pause each
step asks for honoured (time moved by a fake clock, never slept), and a stop that ends
it before the next step or in the middle of a pause."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quietline.clock import FixedClock
from quietline.runner import StepReport, run_steps

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
PERIOD = timedelta(seconds=10)
STEP_TAKES = timedelta(seconds=1)


class FakeStop(threading.Event):
    """A stop event whose waits move ``clock`` instead of sleeping; it records each wait
    and sets itself after ``waits_before_stop`` of them."""

    def __init__(self, clock: FixedClock, waits_before_stop: int) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float | None] = []
        self.waits_before_stop = waits_before_stop

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if timeout is not None:
            self.clock.advance(timedelta(seconds=timeout))
        if len(self.waits) >= self.waits_before_stop:
            self.set()
        return self.is_set()


@dataclass
class CountReport(StepReport):
    count: int = 0

    def summary(self) -> list[str]:
        return [f"count {self.count}"]


class Service:
    """A service that takes STEP_TAKES per step and wants one step per PERIOD."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.steps: list[datetime] = []
        self.paused: list[tuple[CountReport, datetime]] = []

    def step(self, now: datetime) -> CountReport:
        self.steps.append(now)
        self.clock.advance(STEP_TAKES)
        return CountReport(now, count=len(self.steps))

    def pause(self, report: CountReport, now: datetime) -> float:
        self.paused.append((report, now))
        return (report.at + PERIOD - now).total_seconds()


def test_once_runs_one_step_and_never_waits() -> None:
    clock = FixedClock(T0)
    service = Service(clock)
    stop = FakeStop(clock, waits_before_stop=1)
    handed: list[CountReport] = []

    last = run_steps(
        service.step, clock, stop, pause=service.pause, on_step=handed.append, once=True
    )

    assert service.steps == [T0]
    assert last is not None
    assert handed == [last]
    assert last.count == 1
    assert service.paused == []
    assert stop.waits == []


def test_a_stop_set_before_the_first_step_runs_nothing() -> None:
    clock = FixedClock(T0)
    service = Service(clock)
    stop = FakeStop(clock, waits_before_stop=1)
    stop.set()
    handed: list[CountReport] = []

    last = run_steps(service.step, clock, stop, pause=service.pause, on_step=handed.append)

    assert last is None
    assert service.steps == []
    assert handed == []
    assert stop.waits == []


def test_the_pause_asked_for_is_honoured_and_reports_are_handed_on_in_order() -> None:
    clock = FixedClock(T0)
    service = Service(clock)
    stop = FakeStop(clock, waits_before_stop=3)
    handed: list[CountReport] = []

    last = run_steps(service.step, clock, stop, pause=service.pause, on_step=handed.append)

    # Each step takes a second, so the pause is asked at the clock's time after the step
    # and the loop waits the rest of the period: steps land exactly on the period.
    assert service.steps == [T0, T0 + PERIOD, T0 + 2 * PERIOD]
    assert [(report.count, now) for report, now in service.paused] == [
        (1, T0 + STEP_TAKES),
        (2, T0 + PERIOD + STEP_TAKES),
        (3, T0 + 2 * PERIOD + STEP_TAKES),
    ]
    assert stop.waits == [9.0, 9.0, 9.0]
    assert [report.count for report in handed] == [1, 2, 3]
    assert handed[0] is service.paused[0][0]
    assert last is handed[-1]


def test_a_step_later_than_its_due_time_is_followed_at_once() -> None:
    clock = FixedClock(T0)
    stop = FakeStop(clock, waits_before_stop=2)
    asked = iter([-5.0, 0.25])

    def step(now: datetime) -> StepReport:
        return StepReport(now)

    run_steps(step, clock, stop, pause=lambda _report, _now: next(asked))

    assert stop.waits == [0.0, 0.25]


def test_a_stop_during_a_long_pause_ends_the_loop_at_once() -> None:
    clock = FixedClock(T0)
    stop = threading.Event()
    stepped = threading.Event()
    handed: list[StepReport] = []

    def on_step(report: StepReport) -> None:
        handed.append(report)
        stepped.set()

    def step(now: datetime) -> StepReport:
        return StepReport(now)

    loop = threading.Thread(
        target=run_steps,
        args=(step, clock, stop),
        kwargs={"pause": lambda _report, _now: 3600.0, "on_step": on_step},
    )
    loop.start()
    assert stepped.wait(timeout=5)
    stop.set()
    loop.join(timeout=5)

    assert not loop.is_alive()  # it would have waited an hour
    assert [report.at for report in handed] == [T0]


def test_the_status_line_is_the_summary_then_the_error() -> None:
    report = CountReport(T0, notes=["a note for the operator"], count=3)
    assert report.line() == "count 3"
    report.error = "edge unreachable"
    assert report.line() == "count 3 · edge unreachable"
    assert "note" not in report.line()

    assert StepReport(T0).line() == ""
    assert StepReport(T0, error="boom").line() == "boom"
    assert StepReport(T0).notes == []
