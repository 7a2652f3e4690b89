"""Opening submissions over worker processes: the mixer's one CPU-bound stage.

Removing a submission's outer layer (an X25519 sealed-box open and an XSalsa20-Poly1305
open per key tried) is pure and needs nothing but the CoverNode's messaging keys, so it
is the part of the mixer that spreads over cores. Everything that decides what becomes
of an input (replays, the threshold mix, padding, shuffling, signing) and everything the
exactly-once guarantee rests on (the store's transactions) stays in the mixer's own
process: a worker only turns bytes into :class:`Opened` records and changes no state.
So a worker that dies (killed, out of memory) loses nothing: the page it was opening has
not been taken in, and :class:`Openers` opens it again.

Workers are started with ``spawn``: a fresh interpreter that inherits none of the
mixer's memory (its identity keys, its database connection), only the messaging keys
sent with each chunk of work. On Linux a worker dies with the mixer, however the mixer
ends.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from quietline.protocol.api import Direction
from quietline.protocol.covernode import JOURNALIST_LANE, USER_LANE, LaneSpec, Opened
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


@dataclass(frozen=True, slots=True)
class Failed:
    """An item that could not be opened for a reason other than not being ours: an
    exception (named in ``error``) or a worker that died on it twice."""

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


def _start_worker(mixer_pid: int) -> None:
    """Bind a new worker's life to the mixer's."""
    # Ctrl-C at a terminal reaches the whole process group: the mixer finishes its step
    # and closes the pool, so a worker must not die of it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A mixer killed outright (SIGKILL, out of memory) closes nothing: have the kernel
    # end its workers too, and end now if that already happened.
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != mixer_pid:
        os._exit(0)


@dataclass
class Outcome(Generic[R]):
    """Every item's result in order, and what the operator should know (counts only)."""

    results: list[R | Failed]
    notes: list[str] = field(default_factory=list)


class Openers:
    """``workers`` processes that run one function over many items (1: in this process).

    Not thread-safe: the mixer's one thread drives it. Close it (or use it as a context
    manager) to stop the workers.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Openers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _running(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def run(self, work: Callable[[T], R], items: Sequence[T]) -> Outcome[R]:
        """``work`` over ``items`` (a picklable function: a module-level one, or a
        ``functools.partial`` of one). An item on which ``work`` raises is a
        :class:`Failed`; a worker that dies is replaced and its chunk run again, and an
        item a worker dies on twice is :class:`Failed` too. Never raises for either."""
        if self.workers == 1 or len(items) <= 1:
            return Outcome(_run_chunk(work, items))
        size = -(-len(items) // (self.workers * CHUNKS_PER_WORKER))
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        done: dict[int, list[R | Failed]] = {}
        notes: list[str] = []
        if not self._chunks(work, chunks, done):
            notes.append("a worker process stopped: started again, its work redone")
            self._restart()
            if not self._chunks(work, chunks, done):
                self._restart()
                notes.append("a worker process stopped again: its items opened one by one")
                self._one_by_one(work, chunks, done)
        return Outcome([result for index in range(len(chunks)) for result in done[index]], notes)

    def _chunks(
        self,
        work: Callable[[T], R],
        chunks: list[Sequence[T]],
        done: dict[int, list[R | Failed]],
    ) -> bool:
        """Run the chunks not yet ``done`` into ``done``; False if the pool broke."""
        pool = self._running()
        futures: dict[int, Future[list[R | Failed]]] = {}
        try:
            for index, chunk in enumerate(chunks):
                if index not in done:
                    futures[index] = pool.submit(_run_chunk, work, chunk)
            for index, future in futures.items():
                done[index] = future.result()
        except BrokenProcessPool:
            for index, future in futures.items():
                if future.done() and future.exception() is None:
                    done[index] = future.result()
            return False
        return True

    def _one_by_one(
        self,
        work: Callable[[T], R],
        chunks: list[Sequence[T]],
        done: dict[int, list[R | Failed]],
    ) -> None:
        """Run each item of the chunks not yet ``done`` alone: an item a worker dies on
        is dropped, so one poisonous input cannot stall the queue behind it."""
        for index, chunk in enumerate(chunks):
            if index in done:
                continue
            results: list[R | Failed] = []
            for item in chunk:
                try:
                    results += self._running().submit(_run_chunk, work, [item]).result()
                except BrokenProcessPool:
                    self._restart()
                    results.append(Failed("a worker died opening it"))
            done[index] = results
