"""Running a service: one step at a time until stopped, with the clock read here.

The mixer, the desk and the source client each do their work in a ``step(now)`` that
takes the time as an argument and returns what it did. :func:`run_steps` is the one loop
that drives any of them: it reads the clock, runs a step, hands the report on, and waits
as long as the service asks (waking at once when ``stop`` is set). Signal handling and
printing are the caller's; nothing here knows which service it runs.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from quietline.clock import Clock
from quietline.protocol.errors import QuietlineError

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


class AlreadyRunning(QuietlineError):
    """Another process already runs a service on the same files."""


@contextmanager
def running_alone(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (created 0600) for the life of the
    block, so that a second process running ``what`` on the same files (which would
    double its traffic) is refused; the lock goes with the process, however it ends.

    Raises AlreadyRunning when another process holds it.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another {what} is already running on {lock_path.parent}: stop it first "
                "(two would double the traffic)"
            ) from None
        yield
    finally:
        os.close(handle)
