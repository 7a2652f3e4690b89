"""Running a service: one step at a time until stopped, with the clock read here.

The mixer, the desk and the source client each do their work in a ``step(now)`` that
takes the time as an argument and returns what it did. :func:`run_steps` is the one loop
that drives any of them: it reads the clock, runs a step, hands the report on, and waits
as long as the service asks (waking at once when ``stop`` is set). Signal handling and
printing are the caller's; nothing here knows which service it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from quietline.clock import Clock

R = TypeVar("R")


@dataclass
class StepReport:
    """What one step of a service did: counts for a status line, notes for the operator,
    and the error that cut the step short, if any. Never any content, key or anything
    about a client."""

    at: datetime
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> list[str]:
        """The parts of the status line; each service's report lists its counts."""
        return []

    def line(self) -> str:
        """One status line: the summary, then the error if there was one."""
        parts = self.summary()
        if self.error is not None:
            parts.append(self.error)
        return " · ".join(parts)


def run_steps(
    step: Callable[[datetime], R],
    clock: Clock,
    stop: threading.Event,
    *,
    pause: Callable[[R, datetime], float],
    on_step: Callable[[R], None] = lambda _: None,
    once: bool = False,
) -> R | None:
    """Run ``step(clock.now())`` until ``stop`` is set (or once), calling ``on_step`` with
    each report and then waiting ``pause(report, now)`` seconds. Returns the last report
    (None when ``stop`` was set before the first step)."""
    report: R | None = None
    while not stop.is_set():
        report = step(clock.now())
        on_step(report)
        if once:
            break
        stop.wait(max(0.0, pause(report, clock.now())))
    return report
