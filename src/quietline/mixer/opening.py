"""Opening submissions over worker processes: the mixer's one CPU-bound stage.

Removing a submission's outer layer (an X25519 sealed-box open and an XSalsa20-Poly1305
open per key tried) is pure and needs nothing but the CoverNode's messaging keys, so it
is the part of the mixer that spreads over cores. Everything that decides what becomes
of an input (replays, the threshold mix, padding, shuffling, signing) and everything the
exactly-once guarantee rests on (the store's transactions) stays in the mixer's own
process: a worker only turns bytes into :class:`Opened` records and changes no state.
So a worker that dies loses nothing: the page it was opening has not been taken in yet.
:class:`Openers` replaces it and tells by how it ended what to do with its work: killed
by SIGKILL or SIGTERM (an operator, the kernel out of memory), the same work is done
again, however often that happens; ended any other way (a crash in the C library, say),
the work is done again one item at a time, and an item that ends a worker on its own is
dropped, so that one poisonous input cannot stall the queue behind it.

Workers are started with ``spawn``: a fresh interpreter that inherits none of the
mixer's memory (its identity keys, its database connection), only the messaging keys
sent with each chunk of work. On Linux a worker dies with the mixer, however the mixer
ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from quietline.protocol.api import Direction
from quietline.protocol.covernode import JOURNALIST_LANE, USER_LANE, LaneSpec, Opened
from quietline.protocol.errors import QuietlineError
from quietline.protocol.keys import EncryptionKeyPair

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K")

# Chunks per worker for each page: enough that a slow chunk does not leave the other
# workers idle at the end of a page, few enough that sending them costs little.
CHUNKS_PER_WORKER = 4


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0))


class WorkersUnavailable(QuietlineError):
    """A worker process could not be started: the mixer cannot open anything now."""


@dataclass(frozen=True, slots=True)
class Failed:
    """An item that could not be opened for a reason other than not being ours: an
    exception (named in ``error``), or a worker that died opening it alone."""

    error: str


# An :class:`Opened` as plain bytes, which can cross a process boundary (the typed boxes
# hold their codecs, which cannot, and a plain tuple pickles ten times faster than a
# dataclass): the key that opened it, the plaintext, and what a real input leaves in the
# mix encoded with the lane's ``kept`` codec (None for cover).
OpenedBytes = tuple[bytes, bytes, bytes | None]


@lru_cache(maxsize=8)
def _key_pairs(secrets: tuple[bytes, ...]) -> tuple[EncryptionKeyPair, ...]:
    return tuple(EncryptionKeyPair.from_secret(secret) for secret in secrets)


def open_submission(
    direction: Direction, secrets: tuple[bytes, ...], raw: bytes
) -> OpenedBytes | None:
    """Open one queued submission of ``direction`` (its wire bytes) with whichever of the
    messaging keys ``secrets`` fits, by the lane's own rule (``LaneSpec.open``); None when
    none does. Runs in a worker."""
    spec: LaneSpec[Any, Any] = USER_LANE if direction is Direction.USER else JOURNALIST_LANE
    opened = spec.open(spec.submissions.decode(raw), _key_pairs(secrets))
    if opened is None:
        return None
    kept = None if opened.kept is None else spec.kept.encode(opened.kept)
    return opened.key, opened.plaintext, kept


def typed(spec: LaneSpec[Any, K], item: OpenedBytes | None) -> Opened[K] | None:
    """The :class:`Opened` that ``item`` stands for, its kept input decoded again."""
    if item is None:
        return None
    key, plaintext, kept = item
    return Opened(key, plaintext, None if kept is None else spec.kept.decode(kept))


def _run_chunk(work: Callable[[T], R], items: Sequence[T]) -> list[R | Failed]:
    results: list[R | Failed] = []
    for item in items:
        try:
            results.append(work(item))
        except Exception as error:  # hostile input: one bad item never stops the page
            results.append(Failed(type(error).__name__))
    return results


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# How workers end when someone else ends them: their work is not at fault.
_ENDED_FROM_OUTSIDE = (-signal.SIGKILL, -signal.SIGTERM)


def _serve(connection: Connection, mixer_pid: int) -> None:
    """A worker: run each ``(work, items)`` that arrives, send back the results; stop at
    None or when the mixer's end of the pipe closes."""
    # Ctrl-C at a terminal reaches the whole process group: the mixer finishes its step
    # and stops its workers, so a worker must not die of it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A mixer killed outright (SIGKILL, out of memory) stops nothing: have the kernel
    # end its workers too, and end now if that already happened.
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != mixer_pid:
        return
    connection.send(True)  # ready
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        if task is None:
            return
        work, items = task
        connection.send(_run_chunk(work, items))


@dataclass
class _Worker:
    process: BaseProcess
    connection: Connection

    def how_it_ended(self) -> tuple[bool, str]:
        """Whether it was ended from outside, and how it ended, in words."""
        self.process.join(timeout=5)
        if self.process.is_alive():  # its pipe broke, yet it runs: end it
            self.process.kill()
            self.process.join()
        code = self.process.exitcode or 0
        if code < 0:
            return code in _ENDED_FROM_OUTSIDE, f"killed by {signal.Signals(-code).name}"
        return False, f"exit code {code}"


@dataclass
class Outcome(Generic[R]):
    """Every item's result in order, and what the operator should know (counts only)."""

    results: list[R | Failed]
    notes: list[str] = field(default_factory=list)


class Openers:
    """``workers`` processes that run one function over many items (1: in this process).

    The workers start at once (each imports Quietline afresh, about half a second).
    Not thread-safe: the mixer's one thread drives it. Close it (or use it as a context
    manager) to stop the workers.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        if workers > 1:
            starting = [self._start() for _ in range(workers)]
            for worker in starting:
                self._idle.append(self._ready(worker))

    def __enter__(self) -> Openers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (each finishes what it holds: nothing, between runs)."""
        for worker in self._idle:
            with contextlib.suppress(OSError):  # already gone
                worker.connection.send(None)
            worker.process.join()
            worker.connection.close()
        self._idle = []

    def _ready(self, worker: _Worker) -> _Worker:
        """Wait until a new ``worker`` is ready, and return it; one killed from outside
        meanwhile is replaced. Raises WorkersUnavailable (after stopping the others) if
        one ends on its own first: a new worker has opened nothing yet, so this is the
        machine's fault (Quietline not importable, say), not an item's."""
        while True:
            try:
                worker.connection.recv()
            except (EOFError, OSError):
                outside, how = worker.how_it_ended()
                worker.connection.close()
                if not outside:
                    self.close()
                    raise WorkersUnavailable(
                        f"a new worker process ended at once ({how})"
                    ) from None
                worker = self._start()
            else:
                return worker

    def _start(self) -> _Worker:
        mine, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, os.getpid()), name="quietline-opener", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, mine)

    def run(self, work: Callable[[T], R], items: Sequence[T]) -> Outcome[R]:
        """``work`` over ``items`` (a picklable function: a module-level one, or a
        ``functools.partial`` of one). An item on which ``work`` raises is a
        :class:`Failed`; so is one that ends a worker by itself (see the module's
        docstring). Never raises for either, and never loses an item to a dead worker;
        raises WorkersUnavailable when a worker cannot be started again."""
        if self.workers == 1 or len(items) <= 1:
            return Outcome(_run_chunk(work, items))
        while len(self._idle) < self.workers:  # a run cut short left some behind
            self._idle.append(self._ready(self._start()))
        size = -(-len(items) // (self.workers * CHUNKS_PER_WORKER))
        todo = deque((start, min(start + size, len(items))) for start in range(0, len(items), size))
        results: list[R | Failed] = []
        done: dict[int, list[R | Failed]] = {}
        busy: dict[Connection, tuple[_Worker, tuple[int, int]]] = {}
        notes: list[str] = []
        while todo or busy:
            while todo and self._idle:
                worker, span = self._idle.pop(), todo.popleft()
                try:
                    worker.connection.send((work, items[span[0] : span[1]]))
                except OSError:  # it died while idle: its replacement takes the span
                    todo.appendleft(span)
                    self._replace(worker, notes)
                    continue
                busy[worker.connection] = (worker, span)
            for ready in wait(list(busy)):
                assert isinstance(ready, Connection)
                worker, span = busy.pop(ready)
                try:
                    done[span[0]] = ready.recv()
                    self._idle.append(worker)
                except (EOFError, OSError):
                    outside = self._replace(worker, notes)
                    self._after_death(span, outside, todo, done)
        for start in sorted(done):
            results += done[start]
        return Outcome(results, notes)

    def _replace(self, worker: _Worker, notes: list[str]) -> bool:
        """Start a worker in place of a dead one; say whether it was ended from outside."""
        outside, how = worker.how_it_ended()
        worker.connection.close()
        self._idle.append(self._ready(self._start()))
        note = f"a worker process stopped ({how}): started again"
        if note not in notes:
            notes.append(note)
        return outside

    @staticmethod
    def _after_death(
        span: tuple[int, int],
        outside: bool,
        todo: deque[tuple[int, int]],
        done: dict[int, list[R | Failed]],
    ) -> None:
        """What to do with the items a worker died holding."""
        start, stop = span
        if outside:
            todo.append(span)  # not their fault: the same again
        elif stop - start > 1:
            todo.extend((item, item + 1) for item in range(start, stop))  # find the culprit
        else:
            done[start] = [Failed("a worker died opening it")]
